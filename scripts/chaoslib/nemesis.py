"""The faults. Each one: inject, hold, heal, then wait (up to 60 s) for the grid to be whole.

Every pid signalled here comes from the grid's own status (broker_pid, a unit's
pid, mirror.pid), read just before. Paused processes are remembered so that
cleanup() always sends SIGCONT, even after Ctrl-C.
"""

import os
import signal
import sqlite3
import subprocess
import time

from .grid import SECTIONS, HarnessError, in_sync, leader_counts, section_status, units, wait_replaced, wait_whole
from .history import CUSTOMER, REGISTER

BASIC = ["kill-primary", "kill-two", "pause-primary", "pause-backup", "kill-catchup",
         "kill-broker", "kill-mirror", "db-away", "scale", "kill-moving"]
ALL = BASIC + ["mixed"]

WHOLE_TIMEOUT = 60.0
RESTART_TIMEOUT = 30.0
SETTLE_TIMEOUT = 120.0


class Fault:
    """One injected fault, as the progress line and the report show it."""

    def __init__(self, nemesis, kind, target, injected):
        self.nemesis = nemesis      # the row it counts under (mixed stays mixed)
        self.kind = kind            # what was actually done
        self.target = target
        self.injected = injected
        self.description = ""
        self.whole = None           # True/False once waited for
        self.whole_after = None     # seconds from heal to whole
        self.reason = ""            # why it was not whole
        self.killed = []            # (name, pid) of every process killed: healed once each has a new pid

    def line(self, t0):
        """The progress line: time, nemesis, target, what happened."""
        name = self.nemesis if self.kind == self.nemesis else "%s/%s" % (self.nemesis, self.kind)
        if self.whole:
            outcome = "whole again after %.1f s" % self.whole_after
        else:
            outcome = "NOT whole after %.0f s (%s)" % (self.whole_after or 0, self.reason)
        return "%8.1fs  %-26s %-24s %s; %s" % (self.injected - t0, name, self.target, self.description, outcome)


class Nemesis:
    """Injects faults into one grid, choosing targets with a seeded random generator."""

    def __init__(self, grid, rng, log=None):
        self.grid = grid
        self.rng = rng
        self.log = log or (lambda text: None)
        self.paused = set()
        self.database = None
        self.kill_primary_round = 0
        self.pause_primary_round = 0
        self.scale_round = 0
        self.kill_moving_round = 0

    # --- helpers -----------------------------------------------------------

    def signal(self, pid, sig):
        """Sends `sig` to a pid read from the status; False when the process is already gone."""
        if not isinstance(pid, int) or pid <= 1 or pid == os.getpid():
            raise HarnessError("refusing to signal pid %r" % (pid,))
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return False
        return True

    def status(self, timeout=10.0):
        """A status, waiting up to `timeout` seconds for the broker to answer; None if it does not."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.grid.status()
            if status is not None or time.monotonic() > deadline:
                return status
            time.sleep(0.2)

    def most_leading(self, status, section):
        """The unit of `section` leading the most partitions (ties: the first by name), as its status entry."""
        counts = leader_counts(status, section)
        by_name = {unit["name"]: unit for unit in units(status, section) if unit.get("pid")}
        if not by_name:
            return None
        name = max(sorted(by_name), key=lambda n: counts.get(n, 0))
        return by_name[name]

    def pause(self, pid, seconds):
        """SIGSTOP, hold, SIGCONT (also in cleanup, should the hold be interrupted)."""
        self.paused.add(pid)
        try:
            self.signal(pid, signal.SIGSTOP)
            time.sleep(seconds)
        finally:
            self.signal(pid, signal.SIGCONT)
            self.paused.discard(pid)

    def cleanup(self):
        """Leaves nothing behind: paused processes continue, the database lock goes."""
        for pid in list(self.paused):
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
            self.paused.discard(pid)
        if self.database is not None:
            try:
                self.database.rollback()
                self.database.close()
            except sqlite3.Error:
                pass
            self.database = None

    # --- one fault ---------------------------------------------------------------

    def run(self, name):
        """Injects one fault of nemesis `name`, heals it and waits for a whole grid; None when nothing could be injected."""
        kind = self.rng.choice(BASIC) if name == "mixed" else name
        status = self.status()
        if status is None:
            self.log("%s: no status from the broker; fault skipped" % kind)
            return None
        inject = getattr(self, "_" + kind.replace("-", "_"))
        fault = inject(status, Fault(name, kind, "-", time.monotonic()))
        if fault is None:
            return None
        healed = time.monotonic()
        fault.whole, fault.reason = wait_replaced(self.grid, fault.killed, WHOLE_TIMEOUT)
        if fault.whole:
            left = max(0.0, WHOLE_TIMEOUT - (time.monotonic() - healed))
            fault.whole, _, fault.reason = wait_whole(self.grid, left)
        fault.whole_after = time.monotonic() - healed
        return fault

    def kill(self, fault, name, pid):
        """kill -9 of a process the status named; remembered so the fault heals only once it is back."""
        fault.killed.append((name, pid))
        return self.signal(pid, signal.SIGKILL)

    def _kill_primary(self, status, fault):
        """kill -9 the unit leading the most partitions; the section alternates round by round."""
        section = (REGISTER, CUSTOMER)[self.kill_primary_round % 2]
        self.kill_primary_round += 1
        unit = self.most_leading(status, section)
        if unit is None:
            self.log("kill-primary: no %s unit with a pid; skipped" % section)
            return None
        leads = leader_counts(status, section).get(unit["name"], 0)
        fault.target = "%s (pid %d)" % (unit["name"], unit["pid"])
        fault.injected = time.monotonic()
        done = self.kill(fault, unit["name"], unit["pid"])
        fault.description = "kill -9, it led %d partitions%s" % (leads, "" if done else " (already gone)")
        return fault

    def _kill_two(self, status, fault):
        """kill -9 two register units at the same moment."""
        candidates = [unit for unit in units(status, REGISTER) if unit.get("pid")]
        if len(candidates) < 2:
            self.log("kill-two: fewer than two register units; skipped")
            return None
        chosen = self.rng.sample(sorted(candidates, key=lambda u: u["name"]), 2)
        fault.target = " + ".join("%s (pid %d)" % (u["name"], u["pid"]) for u in chosen)
        fault.injected = time.monotonic()
        for unit in chosen:
            self.kill(fault, unit["name"], unit["pid"])
        fault.description = "kill -9 both"
        return fault

    def _pause_primary(self, status, fault):
        """SIGSTOP the unit leading the most partitions for 1..3 s (failure detection is 300 ms).

        The section alternates round by round, as for kill-primary.
        """
        section = (REGISTER, CUSTOMER)[self.pause_primary_round % 2]
        self.pause_primary_round += 1
        unit = self.most_leading(status, section)
        if unit is None:
            return None
        seconds = self.rng.uniform(1.0, 3.0)
        fault.target = "%s (pid %d)" % (unit["name"], unit["pid"])
        fault.injected = time.monotonic()
        self.pause(unit["pid"], seconds)
        fault.description = "SIGSTOP for %.1f s (led %d partitions), SIGCONT" % (
            seconds, leader_counts(status, section).get(unit["name"], 0))
        return fault

    def _pause_backup(self, status, fault):
        """SIGSTOP a unit that leads nothing (else the one leading the fewest) for 1..3 s."""
        candidates = []
        for section in (REGISTER, CUSTOMER):
            counts = leader_counts(status, section)
            candidates += [(counts.get(u["name"], 0), u["name"], u) for u in units(status, section) if u.get("pid")]
        if not candidates:
            return None
        fewest = min(count for count, _, _ in candidates)
        count, _, unit = self.rng.choice(sorted([c for c in candidates if c[0] == fewest], key=lambda c: c[1]))
        seconds = self.rng.uniform(1.0, 3.0)
        fault.target = "%s (pid %d)" % (unit["name"], unit["pid"])
        fault.injected = time.monotonic()
        self.pause(unit["pid"], seconds)
        fault.description = "SIGSTOP for %.1f s (led %d partitions), SIGCONT" % (seconds, count)
        return fault

    def _kill_catchup(self, status, fault):
        """kill -9 a register unit, then, once it is back and still catching up, kill -9 another.

        The second victim is the unit leading the most partitions on which the
        restarted unit is a backup not yet in sync: promotion must then pick an
        in-sync backup, never the one still catching up.
        """
        candidates = sorted([u for u in units(status, REGISTER) if u.get("pid")], key=lambda u: u["name"])
        if len(candidates) < 2:
            return None
        first = self.rng.choice(candidates)
        fault.target = "%s (pid %d)" % (first["name"], first["pid"])
        fault.injected = time.monotonic()
        self.signal(first["pid"], signal.SIGKILL)  # waited for below: its return is part of this fault
        deadline = time.monotonic() + RESTART_TIMEOUT
        while time.monotonic() < deadline:
            current = self.grid.status()
            back = [u for u in units(current, REGISTER) if u["name"] == first["name"] and u.get("pid") not in (None, first["pid"])]
            if back:
                break
            time.sleep(0.05)
        else:
            fault.killed.append((first["name"], first["pid"]))
            fault.description = "kill -9; it did not come back within %.0f s, no second kill" % RESTART_TIMEOUT
            return fault
        restarted = time.monotonic() - fault.injected
        lagging, assigned = {}, 0
        section = section_status(current, REGISTER) or {}
        for partition in section.get("partitions") or []:
            if first["name"] in (partition.get("backups") or []):
                assigned += 1
                if first["name"] not in in_sync(partition) and partition.get("primary"):
                    lagging[partition["primary"]] = lagging.get(partition["primary"], 0) + 1
        others = [u for u in units(current, REGISTER) if u["name"] != first["name"] and u.get("pid")]
        if not others:
            fault.description = "kill -9; back after %.1f s but no other unit to kill" % restarted
            return fault
        if lagging:
            second = max(sorted(others, key=lambda u: u["name"]), key=lambda u: lagging.get(u["name"], 0))
            state = "%d partitions not in sync yet" % sum(lagging.values())
        else:
            second = self.most_leading(current, REGISTER)
            state = ("no partition assigned yet" if assigned == 0 else "already in sync on %d partitions" % assigned)
        self.kill(fault, second["name"], second["pid"])
        fault.target += " then %s (pid %d)" % (second["name"], second["pid"])
        fault.description = "kill -9; back as pid %d after %.1f s (%s); kill -9 of the second" % (
            back[0]["pid"], restarted, state)
        return fault

    def _kill_broker(self, status, fault):
        """kill -9 the broker: up restarts it, and it rebuilds the table from the units' reports."""
        pid = status.get("broker_pid")
        fault.target = "broker (pid %s)" % pid
        fault.injected = time.monotonic()
        self.kill(fault, "broker", pid)
        fault.description = "kill -9"
        return fault

    def _kill_mirror(self, status, fault):
        """kill -9 the write-behind mirror (waiting up to 10 s for it to be reported)."""
        deadline = time.monotonic() + 10
        while not (status or {}).get("mirror") and time.monotonic() < deadline:
            time.sleep(0.2)
            status = self.grid.status()
        mirror = (status or {}).get("mirror")
        if not mirror or not mirror.get("pid"):
            self.log("kill-mirror: no mirror in the status; skipped")
            return None
        fault.target = "mirror (pid %d)" % mirror["pid"]
        fault.injected = time.monotonic()
        self.kill(fault, "mirror", mirror["pid"])
        fault.description = "kill -9 (it was %s)" % mirror.get("state", "?")
        return fault

    def _db_away(self, status, fault):
        """Holds an exclusive lock on the SQLite file for 2..5 s: the mirror cannot write and must catch up."""
        seconds = self.rng.uniform(2.0, 5.0)
        fault.target = "chaos.sqlite"
        fault.injected = time.monotonic()
        try:
            self.database = sqlite3.connect("file:%s?mode=rw" % self.grid.database, uri=True, timeout=30,
                                            isolation_level=None)
            self.database.execute("BEGIN EXCLUSIVE")
        except sqlite3.Error as error:
            self.cleanup()
            self.log("db-away: could not lock the database (%s); skipped" % error)
            return None
        try:
            time.sleep(seconds)
            self.database.execute("COMMIT")
        finally:
            self.database.close()
            self.database = None
        fault.description = "BEGIN EXCLUSIVE held %.1f s, COMMIT" % seconds
        return fault

    # --- rebalancing -------------------------------------------------------------

    def scale(self, section, count):
        """`spacegrid scale SECTION COUNT --no-wait`: the broker drains or `up` starts units."""
        result = subprocess.run([self.grid.binary, "scale", "--broker", self.grid.endpoint, section, str(count), "--no-wait"],
                                capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise HarnessError("spacegrid scale %s %d failed: %s" % (section, count, result.stderr.decode(errors="replace").strip()))

    def wait_settled(self, section, count, timeout=SETTLE_TIMEOUT):
        """Waits until `section` has exactly `count` units, none draining, no move under way and even
        primaries: (True, seconds, moves seen) or (False, seconds, moves seen)."""
        started = time.monotonic()
        seen = set()
        while time.monotonic() - started < timeout:
            current = section_status(self.grid.status(), section)
            if current is not None:
                for move in current.get("moves") or []:
                    seen.add((move["partition"], move["kind"], move["from"], move["to"]))
                members = current.get("units") or []
                if (len(members) == count and not any(u.get("draining") for u in members) and not current.get("moves")
                        and current.get("orphans", 1) == 0 and current.get("skew", 9) <= 1):
                    return True, time.monotonic() - started, len(seen)
            time.sleep(0.2)
        return False, time.monotonic() - started, len(seen)

    def _scale(self, status, fault):
        """Scales a section out by two units and back, waiting each time until the moves are done."""
        section = (CUSTOMER, REGISTER)[self.scale_round % 2]
        self.scale_round += 1
        base = SECTIONS[section]["units"]
        fault.target = "%s %d->%d->%d" % (section, base, base + 2, base)
        fault.injected = time.monotonic()
        self.scale(section, base + 2)
        out_ok, out_seconds, out_moves = self.wait_settled(section, base + 2)
        self.scale(section, base)
        in_ok, in_seconds, in_moves = self.wait_settled(section, base)
        fault.description = "out in %.1f s (%d moves%s), back in %.1f s (%d moves%s)" % (
            out_seconds, out_moves, "" if out_ok else ", NOT settled", in_seconds, in_moves, "" if in_ok else ", NOT settled")
        return fault

    def _kill_moving(self, status, fault):
        """Scales customer out by two and kill -9s the source or the target of a move under way,
        or the broker (in turn); once the killed process is back and the section settled, scales back."""
        section = CUSTOMER
        side = ("from", "to", "broker")[self.kill_moving_round % 3]
        self.kill_moving_round += 1
        base = SECTIONS[section]["units"]
        fault.injected = time.monotonic()
        self.scale(section, base + 2)
        deadline = time.monotonic() + 30
        victim = None
        while time.monotonic() < deadline and victim is None:
            current = self.grid.status()
            for move in (section_status(current, section) or {}).get("moves") or []:
                pids = {u["name"]: u.get("pid") for u in units(current, section)}
                pids["broker"] = (current or {}).get("broker_pid")
                name = "broker" if side == "broker" else move[side]
                if pids.get(name):
                    victim = (move, name, pids[name])
                    break
            else:
                time.sleep(0.02)
        if victim is None:
            fault.target = "%s %d->%d" % (section, base, base + 2)
            fault.description = "no move seen within 30 s; nothing killed"
            self.wait_settled(section, base + 2)
        else:
            move, name, pid = victim
            fault.target = "%s (pid %d)%s" % (name, pid, {"from": ", the move's source", "to": ", the move's target"}.get(side, ""))
            self.kill(fault, name, pid)
            healed, reason = wait_replaced(self.grid, fault.killed, WHOLE_TIMEOUT)
            # Checked here: the victim may be one of the units scaled away below.
            fault.killed = []
            settled, seconds, moves = self.wait_settled(section, base + 2)
            fault.description = "kill -9 during p%d's %s move %s->%s (%s); %s, settled at %d units in %.1f s%s" % (
                move["partition"], move["kind"], move["from"], move["to"], move.get("stage", "?"),
                "back" if healed else "NOT back: " + reason, base + 2, seconds, "" if settled else " (NOT settled)")
            if not healed:
                raise HarnessError("kill-moving: %s" % reason)
        self.scale(section, base)
        self.wait_settled(section, base)
        return fault
