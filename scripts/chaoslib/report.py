"""What a run prints: unavailability per nemesis slice, the table, the summary lines."""

import bisect
import json

from .history import ACCOUNT, BROKER_PATH, DIRECT_PATH, FALLBACK_PATH, GET, OK, PUT, TRADE, UNKNOWN

# The kinds whose unavailability is measured: register write, register read, trade.
MEASURED = (PUT, GET, TRADE)


class Slice:
    """One nemesis's consecutive share of the run, and the faults it injected."""

    def __init__(self, nemesis, start, end=None):
        self.nemesis = nemesis
        self.start = start
        self.end = end
        self.faults = []


def served(op):
    """The grid answered it: 200, or for a read a definite 404 (the key has no entry)."""
    return op.outcome == OK or (op.kind in (GET, ACCOUNT) and op.status == 404)


def longest_unavailability(ops, kind, start, end):
    """The longest stretch within [start, end] in which some `kind` operation was in flight and none was served.

    Operations still in flight at the end (or given up) count as in flight until
    they completed, or until `end`.
    """
    intervals = []
    served_at = []
    for op in ops:
        if op.kind != kind or op.final:
            continue
        finish = op.complete if op.complete is not None else end
        low, high = max(op.invoke, start), min(finish, end)
        if low < high:
            intervals.append((low, high))
        if op.complete is not None and served(op) and start <= op.complete <= end:
            served_at.append(op.complete)
    intervals.sort()
    served_at.sort()
    longest = 0.0
    merged = []
    for low, high in intervals:
        if merged and low <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], high)
        else:
            merged.append([low, high])
    for low, high in merged:
        first = bisect.bisect_right(served_at, low)
        last = bisect.bisect_left(served_at, high)
        points = [low] + served_at[first:last] + [high]
        longest = max(longest, max(b - a for a, b in zip(points, points[1:])))
    return longest


def slice_of(slices, time):
    """The slice a moment falls in, or None (before the faults, or the final check)."""
    if time is None:
        return None
    for item in slices:
        if item.start <= time < item.end:
            return item
    return None


def rows(slices, ops, violations):
    """One row per nemesis (slices of one name add up), and a `final` row for the rest.

    The final row holds the operations outside every slice (opening accounts, the
    final reads) and the violations about the end state (money, database, final reads).
    """
    table = {}
    order = []

    def row(name):
        if name not in table:
            table[name] = {"nemesis": name, "faults": 0, "operations": 0, "violations": 0, "longest_unavailability_ms": 0}
            order.append(name)
        return table[name]

    by_kind = {kind: [op for op in ops if op.kind == kind and not op.final] for kind in MEASURED}
    for item in slices:
        entry = row(item.nemesis)
        entry["faults"] += len(item.faults)
        worst = max(longest_unavailability(by_kind[kind], kind, item.start, item.end) for kind in MEASURED)
        entry["longest_unavailability_ms"] = max(entry["longest_unavailability_ms"], int(round(worst * 1000)))
    final = row("final")
    for op in ops:
        where = slice_of(slices, op.invoke) if not op.final else None
        (row(where.nemesis) if where else final)["operations"] += 1
    for found in violations:
        where = slice_of(slices, found.get("time"))
        (row(where.nemesis) if where else final)["violations"] += 1
    order.remove("final")
    return [table[name] for name in order + ["final"]]


def markdown_table(table):
    """The per-nemesis table as Markdown."""
    lines = ["| nemesis | faults | operations | violations | longest unavailability (ms) |",
             "|---|---:|---:|---:|---:|"]
    for entry in table:
        lines.append("| %s | %d | %d | %d | %d |" % (entry["nemesis"], entry["faults"], entry["operations"],
                                                      entry["violations"], entry["longest_unavailability_ms"]))
    return "\n".join(lines)


def format_violation(number, found):
    """One violation for a person: rule, key, and what was expected and seen."""
    return "%d. [%s] %s: %s" % (number, found["rule"], found["key"], found["detail"])


def summary(seed, duration, ops, faults, violations, table, direct=None):
    """The --json object; `direct` (direct_summary) adds the direct path's figures."""
    document = {
        "seed": seed,
        "duration": duration,
        "operations": len(ops),
        "faults": faults,
        "violations": len(violations),
        "per_nemesis": table,
        "longest_unavailability_ms": max([entry["longest_unavailability_ms"] for entry in table] or [0]),
    }
    if direct is not None:
        document["direct"] = direct
    return document


def direct_summary(clients, all_clients, ops, figures):
    """The direct path's figures: `clients` of `all_clients` were direct; `ops` their operations, by the
    path each took (history.Op.path); `figures` their connections' counters (DirectConnection.figures), summed.
    """
    by_path = {path: {"operations": 0, "ok": 0, "unknown": 0} for path in (DIRECT_PATH, FALLBACK_PATH, BROKER_PATH)}
    for op in ops:
        entry = by_path.setdefault(op.path, {"operations": 0, "ok": 0, "unknown": 0})
        entry["operations"] += 1
        entry["ok"] += op.outcome == OK
        entry["unknown"] += op.outcome == UNKNOWN
    document = {"clients": clients, "of_clients": all_clients, "operations": len(ops), "by_path": by_path,
                "fallbacks": {}}
    for name in ("sent_direct", "sent_broker", "answered_direct", "answered_broker", "late_direct_answers",
                 "table_reads", "failed_table_reads", "conflicting_replies"):
        document[name] = sum(figure.get(name, 0) for figure in figures)
    for figure in figures:
        for reason, number in figure.get("fallbacks", {}).items():
            document["fallbacks"][reason] = document["fallbacks"].get(reason, 0) + number
    return document


def direct_line(direct, name="chaos"):
    """One line for a person: how the direct clients' operations went."""
    if not direct["clients"]:
        return "%s: direct path: none of the %d clients" % (name, direct["of_clients"])
    paths = direct["by_path"]
    reasons = ", ".join("%s %d" % item for item in sorted(direct["fallbacks"].items(), key=lambda item: -item[1]))
    return ("%s: direct path: %d of %d clients, %d operations: %d direct (%d ok, %d unknown), "
            "%d sent direct then through the broker (%d ok, %d unknown%s), %d through the broker only "
            "(no direct route then); %d late answers from a unit; %d table reads (%d failed)") % (
        name, direct["clients"], direct["of_clients"], direct["operations"],
        paths[DIRECT_PATH]["operations"], paths[DIRECT_PATH]["ok"], paths[DIRECT_PATH]["unknown"],
        paths[FALLBACK_PATH]["operations"], paths[FALLBACK_PATH]["ok"], paths[FALLBACK_PATH]["unknown"],
        "; why: " + reasons if reasons else "",
        paths[BROKER_PATH]["operations"], direct["late_direct_answers"], direct["table_reads"],
        direct["failed_table_reads"])


def summary_json(document):
    return json.dumps(document, separators=(",", ":"), sort_keys=False)


def final_line(operations, faults, violations, name="chaos"):
    """The last line of stdout, which scripts read."""
    return "%s: %d operations, %d faults, %d violations" % (name, operations, faults, violations)


def _text(data):
    """Bytes for a JSON file: UTF-8 where it is, escapes where it is not."""
    return None if data is None else data.decode("utf-8", "backslashreplace")


def write_history(path, ops, t0):
    """Every operation as one JSON line (times in seconds from the run's start), for --keep."""
    with open(path, "w") as handle:
        for op in ops:
            handle.write(json.dumps({
                "client": op.client, "sequence": op.sequence, "kind": op.kind, "section": op.section, "key": op.key,
                "value": _text(op.value), "amount": op.amount,
                "invoke": round(op.invoke - t0, 6),
                "complete": None if op.complete is None else round(op.complete - t0, 6),
                "outcome": op.outcome, "status": op.status, "code": op.code, "version": op.version,
                "payload": _text(op.payload), "unit": op.unit, "attempts": op.attempts, "final": op.final,
                "path": op.path,
            }, separators=(",", ":")) + "\n")


def write_violations(path, violations, t0):
    """Every violation (not only the first 20), for --keep."""
    with open(path, "w") as handle:
        json.dump([dict(found, time=None if found.get("time") is None else round(found["time"] - t0, 6))
                   for found in violations], handle, indent=1)
