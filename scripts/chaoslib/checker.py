"""The history checker: pure functions from recorded operations to violations.

Each rule gets the whole history (a list of history.Op) and returns a list of
violations, each a dict {"rule", "key", "detail", "time"}: `time` is the
monotonic time the offending operation was invoked (None when the violation is
about the end state), so the report can tell which nemesis was running.

Ground rules shared by every check:
- `ok` means the grid applied the operation (and answered); `fail` means it did
  not; `unknown` means it may have, or not, at any time up to the end.
- A read is definite when it answered 200 (it saw the meta version) or 404 (it
  saw no entry: version 0). Other reads say nothing about the data.
- "Began after X completed" compares one client clock (time.monotonic() in one
  process), so real-time order between clients is sound.
"""

import bisect
import json

from .history import ACCOUNT, CUSTOMER, FAIL, GET, OK, PUT, REGISTER, TRADE, UNKNOWN

# Above this many trades of unknown outcome on one account, the money rule checks
# a range instead of every subset.
EXACT_SUBSET_LIMIT = 20


def violation(rule, key, detail, time=None):
    """A violation as the report prints it."""
    return {"rule": rule, "key": key, "detail": detail, "time": time}


def read_version(op):
    """The version a read observed: meta version on 200, 0 on 404, None when it observed nothing."""
    if op.outcome == OK:
        return op.version
    if op.status == 404:
        return 0
    return None


def _group(ops, kinds):
    """Operations of the given kinds, by key, in history order."""
    groups = {}
    for op in ops:
        if op.kind in kinds:
            groups.setdefault(op.key, []).append(op)
    return groups


class HighestBefore:
    """Answers "of the events that happened strictly before time t, which had the highest version?".

    Events are (time, version, op). Sorting once and keeping a running maximum makes
    each question a binary search, so histories of 100,000s of operations stay fast.
    """

    def __init__(self, events):
        events = sorted(events, key=lambda event: event[0])
        self.times = [event[0] for event in events]
        self.best = []
        best = None
        for event in events:
            if best is None or event[1] > best[1]:
                best = event
            self.best.append(best)

    def before(self, time):
        """(time, version, op) with the highest version among events before `time`, or None."""
        index = bisect.bisect_left(self.times, time)
        return self.best[index - 1] if index > 0 else None


def check_stale_reads(ops, t0=0.0):
    """Rule 1: a read that began after a write was acknowledged must not see an older version.

    The final check's reads begin after every write ended, so for them this is the
    "lost write" rule: the grid's end state is older than an acknowledged write.
    One violation per read, against the highest version acknowledged before it began.
    """
    found = []
    writes = _group(ops, (PUT,))
    for key, reads in _group(ops, (GET,)).items():
        acknowledged = HighestBefore([(w.complete, w.version, w) for w in writes.get(key, []) if w.outcome == OK])
        for read in reads:
            seen = read_version(read)
            if seen is None:
                continue
            best = acknowledged.before(read.invoke)
            if best is not None and seen < best[1]:
                rule = "lost-write" if read.final else "stale-read"
                found.append(violation(rule, key, "expected version >= %d, saw %d. Write: %s. Read: %s" % (
                    best[1], seen, best[2].describe(t0), read.describe(t0)), read.invoke))
    return found


def check_read_monotonic(ops, t0=0.0):
    """Rule 2: a read that began after another read of the key completed must not see a lower version."""
    found = []
    for key, reads in _group(ops, (GET,)).items():
        definite = [r for r in reads if read_version(r) is not None]
        earlier = HighestBefore([(r.complete, read_version(r), r) for r in definite])
        for read in definite:
            best = earlier.before(read.invoke)
            if best is not None and read_version(read) < best[1]:
                found.append(violation("read-monotonic", key, "expected version >= %d, saw %d. Earlier read: %s. Read: %s" % (
                    best[1], read_version(read), best[2].describe(t0), read.describe(t0)), read.invoke))
    return found


def check_version_reuse(ops, t0=0.0):
    """Rule 3: a (key, version) names one value, and a write after another gets a higher version.

    (a) every acknowledged write and every 200 read of a key, grouped by version,
        must agree on the value;
    (b) an acknowledged write invoked after another acknowledged write of the key
        completed must get a higher version.
    """
    found = []
    for key, key_ops in _group(ops, (PUT, GET)).items():
        values = {}  # version -> {value: first op seen with it}
        for op in key_ops:
            if op.outcome != OK:
                continue
            value = op.value if op.kind == PUT else op.payload
            seen = values.setdefault(op.version, {})
            if value in seen:
                continue
            seen[value] = op
            if len(seen) == 2:  # report each (key, version) once, when its second value shows up
                first, second = seen.values()
                found.append(violation("version-reuse", key, "version %d holds two values: %s / %s" % (
                    op.version, first.describe(t0), second.describe(t0)), op.invoke))
        writes = [w for w in key_ops if w.kind == PUT and w.outcome == OK]
        earlier = HighestBefore([(w.complete, w.version, w) for w in writes])
        for write in writes:
            best = earlier.before(write.invoke)
            if best is not None and write.version <= best[1]:
                found.append(violation("version-reuse", key, "expected a version > %d, got %d. Earlier write: %s. Later write: %s" % (
                    best[1], write.version, best[2].describe(t0), write.describe(t0)), write.invoke))
    return found


def check_unknown_values(ops, t0=0.0):
    """Rule 4: a read returns only a value some client wrote to that key.

    Values are unique per write, so a value also names its write: it must not be
    one that failed (the grid said it did not apply it), nor one invoked only
    after the read had completed.
    """
    found = []
    writes = {}
    for op in ops:
        if op.kind == PUT and op.value is not None:
            writes.setdefault(op.key, {}).setdefault(op.value, op)
    for op in ops:
        if op.kind != GET or op.outcome != OK:
            continue
        write = writes.get(op.key, {}).get(op.payload)
        if write is None:
            found.append(violation("unknown-value", op.key, "no client wrote this value. Read: %s" % op.describe(t0), op.invoke))
        elif write.outcome == FAIL:
            found.append(violation("unknown-value", op.key, "the value of a write that failed. Write: %s. Read: %s" % (
                write.describe(t0), op.describe(t0)), op.invoke))
        elif op.complete is not None and op.complete < write.invoke:
            found.append(violation("unknown-value", op.key, "read before its write began. Write: %s. Read: %s" % (
                write.describe(t0), op.describe(t0)), op.invoke))
    return found


def subset_sums(amounts):
    """Every total a subset of `amounts` can make (amounts are small, so the set stays small)."""
    sums = {0}
    for amount in amounts:
        sums |= {total + amount for total in sums}
    return sums


def balance_of(payload):
    """The integer `balance` of an account or trade reply, or None when unreadable."""
    try:
        document = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(document, dict):
        return None
    balance = document.get("balance")
    return balance if isinstance(balance, int) and not isinstance(balance, bool) else None


def final_reads(ops):
    """The definite reads of the final check, by (section, key): the last one wins."""
    finals = {}
    for op in ops:
        if op.final and op.kind in (GET, ACCOUNT) and read_version(op) is not None:
            finals[(op.section, op.key)] = op
    return finals


def check_money(ops, initial, t0=0.0):
    """Rule 5: no trade applied twice, none acknowledged and lost.

    Per account with initial balance B0 (from `initial`, account -> cents) and
    final balance B (the final check's read): B0 - S - B, where S sums the ok
    trades, must be the total of some subset of the unknown trades (failed trades
    count nothing). Exactly when there are at most EXACT_SUBSET_LIMIT unknown
    trades, as a range otherwise. Then the ok replies, in version order, must go
    down by at least each trade's amount, and the final balance be no higher.
    """
    found = []
    trades = _group(ops, (TRADE,))
    finals = final_reads(ops)
    for account in sorted(initial):
        start = initial[account]
        final = finals.get((CUSTOMER, account))
        if final is None:
            continue  # no definite final read: check_final_reads reports it
        if final.outcome != OK:
            found.append(violation("money", account, "the account is gone at the end. Read: %s" % final.describe(t0)))
            continue
        balance = balance_of(final.payload)
        if balance is None:
            found.append(violation("money", account, "final read is not an account: %s" % final.describe(t0)))
            continue
        account_trades = trades.get(account, [])
        ok = [t for t in account_trades if t.outcome == OK]
        unknown = [t.amount for t in account_trades if t.outcome == UNKNOWN]
        acknowledged = sum(t.amount for t in ok)
        missing = start - acknowledged - balance
        if len(unknown) <= EXACT_SUBSET_LIMIT:
            consistent = missing in subset_sums(unknown)
        else:
            consistent = 0 <= missing <= sum(unknown)
        if not consistent:
            if missing < 0:
                why = "more money than trades allow: an acknowledged trade was lost"
            elif missing > sum(unknown):
                why = "less money than trades allow: a trade was applied twice (or a failed one applied)"
            else:
                why = "no subset of the unknown trades adds up to the difference"
            resent = [t for t in account_trades if t.outcome == FAIL and t.attempts > 1]
            hint = ""
            if resent and missing in subset_sums(unknown + [t.amount for t in resent]):
                hint = (" It adds up if trades that failed after a resend were applied (an earlier send went"
                        " through, a later one was refused): %s." % "; ".join(t.describe(t0) for t in resent[:5]))
            found.append(violation("money", account, (
                "initial %d, final %d, %d ok trades total %d, %d unknown trades %s: %d cents missing; %s.%s Final read: %s") % (
                start, balance, len(ok), acknowledged, len(unknown), _amounts(unknown), missing, why, hint,
                final.describe(t0))))
        found += _check_balance_chain(account, start, ok, final, balance, t0)
    return found


def _amounts(amounts):
    """A short list of amounts for a message."""
    text = ", ".join(str(a) for a in amounts[:10])
    return "[%s%s] (total %d)" % (text, ", ..." if len(amounts) > 10 else "", sum(amounts))


def _check_balance_chain(account, start, ok, final, final_balance, t0):
    """Rule 5, second half: balances only go down, by at least each trade's amount, in version order."""
    found = []
    previous_balance, previous = start, None
    for trade in sorted(ok, key=lambda t: t.version):
        balance = balance_of(trade.payload)
        if balance is None:
            found.append(violation("money", account, "trade reply has no balance: %s" % trade.describe(t0), trade.invoke))
            continue
        if balance > previous_balance - trade.amount:
            after = previous.describe(t0) if previous else "the initial balance %d" % start
            found.append(violation("money", account, "expected a balance <= %d - %d = %d, reply says %d. Previous: %s. Trade: %s" % (
                previous_balance, trade.amount, previous_balance - trade.amount, balance, after, trade.describe(t0)), trade.invoke))
        previous_balance, previous = balance, trade
    if final_balance > previous_balance:
        found.append(violation("money", account, "final balance %d is above the last trade's reply %d. Last trade: %s" % (
            final_balance, previous_balance, previous.describe(t0) if previous else "-")))
    return found


def check_final_reads(ops, expected):
    """Every key of the final check got a definite answer (the grid, whole again, must serve it)."""
    finals = final_reads(ops)
    return [violation("final-read", key, "no definite answer from the grid for %s/%s at the end" % (section, key))
            for section, key in expected if (section, key) not in finals]


def grid_end_state(ops):
    """(section, key) -> (value, version), or None for a key the grid does not hold, from the final reads."""
    state = {}
    for (section, key), op in final_reads(ops).items():
        state[(section, key)] = (op.payload, op.version) if op.outcome == OK else None
    return state


def check_database(grid_state, database, unread=(), sections=(REGISTER, CUSTOMER)):
    """Rule 6: the database holds what the grid holds, value and version, and nothing more.

    `grid_state`: (section, key str) -> (value bytes, version) or None (absent), for
    every key the final check read. `database`: (section, key bytes) -> (value,
    version) for every row of the sections' tables. `unread`: (section, key) pairs
    the final check could not read; their rows are not compared (check_final_reads
    already reports them). Any other row is a key the grid does not hold.
    """
    unread = set(unread)
    found = []
    for (section, key), held in sorted(grid_state.items()):
        row = database.get((section, key.encode("utf-8")))
        if held is None and row is None:
            continue
        if row is None:
            found.append(violation("database", key, "%s/%s: the grid holds v%d %r, the database has no row" % (
                section, key, held[1], held[0][:80])))
        elif held is None:
            found.append(violation("database", key, "%s/%s: the database has v%d %r, the grid holds nothing" % (
                section, key, row[1], row[0][:80])))
        elif (bytes(row[0]), row[1]) != (bytes(held[0]), held[1]):
            found.append(violation("database", key, "%s/%s: the grid holds v%d %r, the database v%d %r" % (
                section, key, held[1], held[0][:80], row[1], row[0][:80])))
    for (section, key), row in sorted(database.items()):
        name = (section, key.decode("utf-8", "replace"))
        if section in sections and name not in grid_state and name not in unread:
            found.append(violation("database", key.decode("utf-8", "replace"),
                                   "%s/%r: a database row (v%d) for a key the grid does not hold" % (section, key, row[1])))
    return found


def check_all(ops, initial, database, expected, t0=0.0):
    """Every rule, in order. `database` None skips rule 6 (no database was read)."""
    found = []
    found += check_stale_reads(ops, t0)
    found += check_read_monotonic(ops, t0)
    found += check_version_reuse(ops, t0)
    found += check_unknown_values(ops, t0)
    found += check_money(ops, initial, t0)
    found += check_final_reads(ops, expected)
    if database is not None:
        state = grid_end_state(ops)
        found += check_database(state, database, unread=[name for name in expected if name not in state])
    return found
