"""The direct path (SGD02, PROTOCOL.md 1.6): requests straight to the unit leading the key's partition.

Pure parts first: the partition hash (FNV-1a 64 of the key's UTF-8 bytes,
modulo the section's partition count, PROTOCOL.md 5.1) and the route table read
from `grid status` (1.5: each hash section's partitions with primary and epoch,
each unit's `clients` endpoint).

Then DirectConnection, a Connection that behaves like the Swift reference
client (Sources/GridClient/DirectConnection.swift):
- a request whose partition has a primary taking direct requests goes to that
  unit's client ROUTER, with the route (partition, epoch) of the table; any
  other (no table, no primary, a unit without a client endpoint) goes through
  the broker;
- a direct request refused with 421 (stale_epoch, wrong_partition, use_broker)
  or 503 goes again through the broker under the same correlation and the very
  same RID frame, and the table is read again (at most once a second);
- a direct request unanswered for DIRECT_WAIT seconds makes the connection read
  the table again: if its partition moved (another unit or epoch, or no primary
  now) it goes through the broker; if not, the unit is only slow and it waits on.

Where the harness departs from the Swift client, on purpose:
- the table is read asynchronously (the worker keeps serving replies meanwhile),
  and a request that found no direct route also asks for a fresh table (the Swift
  client reads it only after a refusal or a timeout, so a failed read or a
  failover seen half-way leaves it on the broker path for good);
- a direct request still unanswered after DIRECT_PATIENCE seconds goes through
  the broker even when the table still names its unit (the Swift client waits
  for ever; the harness gives up after GIVE_UP_AFTER anyway);
- a definite reply is taken from whichever path gives it first: should a unit
  answer a direct copy after the request went through the broker, that answer
  counts (a deposed primary's acknowledgement is what the checker must judge).
  The other path's later reply is compared with it (`conflicting_replies`).
Once through the broker a request stays there: resent after RESEND_AFTER, again
after a 503, given up (outcome unknown) GIVE_UP_AFTER after it was first sent.
Every copy, on either path, carries the same RID, so the grid applies it at most once.
"""

import collections
import json
import time

import zmq

from . import wire
from .client import GIVE_UP_AFTER, RESEND_AFTER, Connection, Pending
from .history import BROKER_PATH, DIRECT_PATH, FALLBACK_PATH, OK, OPEN, PUT, TRADE

FNV_OFFSET_BASIS = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3

DIRECT_WAIT = 1.0        # unanswered this long: is the partition still led there? (Swift: resendMilliseconds)
REFRESH_EVERY = 1.0      # at most one table read a second (Swift: refreshMilliseconds)
STATUS_TIMEOUT = 2.0     # a table read unanswered this long failed (Swift: the status call's timeout)
DIRECT_PATIENCE = 5.0    # harness only: through the broker after this long even if the table still names the unit
RECHECK = 0.1            # how often an overdue direct request looks at the table again (Swift: 100 ms)
DRAIN = 1000             # at most this many messages read from one socket per poll
RECENT = 512             # answered requests whose other copy may still answer, kept to compare
REFUSALS = (421, 503)    # a unit's "not here, not now": nothing applied, go through the broker


def fnv1a64(data):
    """FNV-1a, 64 bit, over bytes (a str is hashed as its UTF-8 bytes)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    value = FNV_OFFSET_BASIS
    for byte in data:
        value = ((value ^ byte) * FNV_PRIME) & wire.U64_MAX
    return value


def hash_partition(key, count):
    """The partition of `key` in a hash-partitioned section of `count` partitions."""
    if count <= 0:
        raise ValueError("a section has at least one partition, got %r" % (count,))
    return fnv1a64(key) % count


Target = collections.namedtuple("Target", "endpoint epoch")
Target.__doc__ = "Where a partition is led: the primary unit's client endpoint, and the partition's epoch."


def _items(value):
    """A JSON array as a list; anything else (missing, wrong type) as no items."""
    return value if isinstance(value, list) else []


def _integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


class RouteTable:
    """section name -> one Target (or None: no direct route) per partition, as one `grid status` said."""

    def __init__(self, sections=None):
        self.sections = dict(sections or {})

    @classmethod
    def from_status(cls, status):
        """The table of a decoded `grid status` document; what does not read is left without a route.

        Like the Swift client: only `hash` sections, the partition count is the
        number of partitions listed, and a partition gets a route when its primary
        is a unit with a non-empty `clients` endpoint. Raises ValueError when
        `status` is not an object.
        """
        if not isinstance(status, dict):
            raise ValueError("a status is a JSON object")
        sections = {}
        for section in _items(status.get("sections")):
            if not isinstance(section, dict) or section.get("partitioning") != "hash":
                continue
            name = section.get("name")
            partitions = _items(section.get("partitions"))
            if not isinstance(name, str) or not name or not partitions:
                continue
            endpoints = {}
            for unit in _items(section.get("units")):
                if isinstance(unit, dict) and isinstance(unit.get("name"), str) and isinstance(unit.get("clients"), str) \
                        and unit["clients"]:
                    endpoints[unit["name"]] = unit["clients"]
            targets = [None] * len(partitions)
            for partition in partitions:
                if not isinstance(partition, dict):
                    continue
                number, epoch, primary = partition.get("partition"), partition.get("epoch"), partition.get("primary")
                if not _integer(number) or not 0 <= number < len(targets) or number > wire.U32_MAX:
                    continue
                if not _integer(epoch) or not 0 <= epoch <= wire.U64_MAX or not isinstance(primary, str):
                    continue
                if primary in endpoints:
                    targets[number] = Target(endpoints[primary], epoch)
            sections[name] = targets
        return cls(sections)

    def route(self, section, key):
        """(partition, Target) for a key; (partition, None) or (None, None) when it has no direct route."""
        targets = self.sections.get(section)
        if not targets:
            return None, None
        partition = hash_partition(key, len(targets))
        return partition, targets[partition]

    def target(self, section, partition):
        """The Target of a partition now, or None."""
        targets = self.sections.get(section) or []
        return targets[partition] if partition is not None and 0 <= partition < len(targets) else None

    def endpoints(self):
        return {target.endpoint for targets in self.sections.values() for target in targets if target is not None}

    def direct_partitions(self):
        return sum(1 for targets in self.sections.values() for target in targets if target is not None)


class DirectPending(Pending):
    """A request of a DirectConnection: which path it is on, and where it went directly."""

    __slots__ = ("path", "endpoint", "partition", "epoch", "check_at")

    def __init__(self, op, frames, now):
        super().__init__(op, frames, now)  # frames: the SGC02 form, for the broker
        self.path = BROKER_PATH
        self.endpoint = None
        self.partition = None
        self.epoch = None
        self.check_at = None


class DirectConnection(Connection):
    """A partition-aware connection: SGD02 to the primary units, SGC02 to the broker, one client id for both."""

    def __init__(self, context, endpoint, client_id, rng=None, resend_after=RESEND_AFTER, give_up_after=GIVE_UP_AFTER,
                 direct_wait=DIRECT_WAIT, direct_patience=DIRECT_PATIENCE, refresh_every=REFRESH_EVERY,
                 status_timeout=STATUS_TIMEOUT, log=None, first_table=True):
        super().__init__(context, endpoint, client_id, rng, wire.SGC02, resend_after, give_up_after, log)
        self.context = context
        self.direct_wait = direct_wait
        self.direct_patience = direct_patience
        self.refresh_every = refresh_every
        self.status_timeout = status_timeout
        self.poller = zmq.Poller()
        self.poller.register(self.socket, zmq.POLLIN)
        # `grid status` on a DEALER of its own, so its replies never mix with the workload's.
        self.status_socket = context.socket(zmq.DEALER)
        self.status_socket.setsockopt(zmq.LINGER, 0)
        self.status_socket.connect(endpoint)
        self.poller.register(self.status_socket, zmq.POLLIN)
        self.status_client = self.client_id[:57] + b"/status"
        self.status_sequence = 0
        self.status_waiting = None        # (correlation, sent at) of the table read under way
        self.last_refresh = None          # when the last table read went out
        self.stale = True                 # a fresh table is wanted
        self.prune_wanted = False
        self.table = RouteTable()
        self.units = {}                   # client endpoint -> DEALER
        self.unit_endpoints = {}          # DEALER -> client endpoint
        self.recent = collections.OrderedDict()  # correlation -> op answered while another copy may still answer
        # Figures for the report.
        self.sent_direct = 0              # requests first sent straight to a unit
        self.sent_broker = 0              # requests sent through the broker only (no direct route then)
        self.fallbacks = {}               # why a direct request went through the broker -> how many
        self.answered_direct = 0          # definite replies from a unit
        self.answered_broker = 0          # definite replies from the broker
        self.late_direct_answers = 0      # of those from a unit: after the request had gone through the broker
        self.refreshes = 0
        self.refresh_failures = 0
        self.conflicting_replies = 0
        if first_table:
            self._first_table(time.monotonic() + status_timeout)

    # --- the table ------------------------------------------------------------------

    def _first_table(self, deadline):
        """Reads the table before the first request (as the Swift client does), waiting until `deadline` at most."""
        self._request_table(time.monotonic())
        while self.status_waiting is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not self.status_socket.poll(int(left * 1000) + 1):
                break
            for _ in range(DRAIN):
                try:
                    frames = self.status_socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                self._on_status(frames, time.monotonic())
        if self.status_waiting is not None:
            self.status_waiting = None
            self._install(None, time.monotonic())

    def _request_table(self, now):
        """Sends `grid status` to the broker; the reply is read by poll()."""
        self.status_sequence += 1
        correlation = wire.encode_correlation(self.status_sequence)
        rid = wire.encode_rid(self.status_sequence, self.status_sequence, self.status_client)
        try:
            self.status_socket.send_multipart(wire.encode_request(correlation, rid, "grid", "status", "-"), zmq.NOBLOCK)
        except zmq.Again:
            pass  # the timeout will count it as a failed read
        self.status_waiting = (correlation, now)
        self.last_refresh = now

    def _maybe_refresh(self, now):
        """Reads the table again when one is wanted, none is under way, and the last is REFRESH_EVERY old."""
        if self.stale and self.status_waiting is None and (
                self.last_refresh is None or now - self.last_refresh >= self.refresh_every):
            self._request_table(now)

    def _on_status(self, frames, now):
        reply = self._decode(frames)
        if reply is None or self.status_waiting is None or reply.correlation != self.status_waiting[0]:
            return  # unreadable, or the answer to a read already given up on
        self.status_waiting = None
        table = None
        if reply.status == 200:
            try:
                table = RouteTable.from_status(json.loads(reply.payload.decode("utf-8")))
            except (UnicodeDecodeError, ValueError, TypeError, RecursionError) as error:
                if self.log:
                    self.log("%s: unreadable grid status (%s)" % (self.name, error))
        self._install(table, now)

    def _install(self, table, now):
        """A new table (None: the read failed, and like the Swift client every request then goes through the broker)."""
        if table is None:
            self.refresh_failures += 1
            self.table = RouteTable()
            self.stale = True
        else:
            self.refreshes += 1
            self.table = table
            self.stale = False
        self.prune_wanted = True
        for correlation, pending in list(self.pending.items()):
            if pending.path == DIRECT_PATH and now - pending.last_sent >= self.direct_wait:
                self._judge(pending, now)

    def _unit(self, endpoint):
        """The DEALER to a unit's client endpoint, connected on first use; None when it cannot be."""
        socket = self.units.get(endpoint)
        if socket is not None:
            return socket
        socket = self.context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        try:
            socket.connect(endpoint)
        except zmq.ZMQError as error:
            socket.close(0)
            if self.log:
                self.log("%s: cannot connect to unit endpoint %r (%s)" % (self.name, endpoint, error))
            return None
        self.units[endpoint] = socket
        self.unit_endpoints[socket] = endpoint
        self.poller.register(socket, zmq.POLLIN)
        return socket

    def _prune(self):
        """Closes the DEALERs of units the table no longer names and no request waits on."""
        self.prune_wanted = False
        keep = self.table.endpoints() | {pending.endpoint for pending in self.pending.values() if pending.endpoint}
        for endpoint in [endpoint for endpoint in self.units if endpoint not in keep]:
            socket = self.units.pop(endpoint)
            del self.unit_endpoints[socket]
            self.poller.unregister(socket)
            socket.close(0)

    # --- requests -------------------------------------------------------------------

    def submit(self, op, operation, arguments=()):
        """Sends a new request: straight to its partition's primary when the table knows it, else through the broker."""
        correlation, rid, now = self._number(op)
        self._maybe_refresh(now)
        pending = DirectPending(op, wire.encode_request(correlation, rid, op.section, operation, op.key, arguments), now)
        self.pending[correlation] = pending
        partition, target = self.table.route(op.section, op.key)
        socket = self._unit(target.endpoint) if target is not None else None
        if socket is None:
            self.stale = True  # no direct route for this partition now: the next table may have one
            self.sent_broker += 1
            pending.path = op.path = BROKER_PATH
            self._send(pending)
            return op
        frames = wire.encode_direct_request(correlation, rid, wire.encode_route(partition, target.epoch),
                                            op.section, operation, op.key, arguments)
        pending.path = op.path = DIRECT_PATH
        pending.endpoint, pending.partition, pending.epoch = target.endpoint, partition, target.epoch
        pending.check_at = now + self.direct_wait
        self.sent_direct += 1
        op.attempts += 1
        try:
            socket.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:
            self._fallback(pending, "unit queue full", now)
        return op

    def _fallback(self, pending, reason, now):
        """Sends a direct request again through the broker: same correlation, same RID."""
        self.fallbacks[reason] = self.fallbacks.get(reason, 0) + 1
        pending.path = pending.op.path = FALLBACK_PATH
        pending.retry_at, pending.last_sent = None, now
        self._send(pending)

    def _judge(self, pending, now):
        """A direct request unanswered for DIRECT_WAIT: through the broker if its partition moved, else wait on."""
        target = self.table.target(pending.op.section, pending.partition)
        if target is None:
            self._fallback(pending, "no route now", now)
        elif target != (pending.endpoint, pending.epoch):
            self._fallback(pending, "moved", now)
        elif now - pending.first_sent >= self.direct_patience:
            self._fallback(pending, "patience", now)
        else:
            self.stale = True  # slow, or gone? A fresh table will tell
            pending.check_at = now + RECHECK

    # --- replies and timers ---------------------------------------------------------

    def poll(self, timeout):
        """Waits up to `timeout` seconds for replies on every socket, runs the timers; returns the operations now finished."""
        finished = []
        wait = max(0.0, min(timeout, self._next_timer() - time.monotonic()))
        events = self.poller.poll(int(wait * 1000) + (1 if wait > 0 else 0))
        for socket, _ in events:
            if socket is not self.socket and socket is not self.status_socket and socket not in self.unit_endpoints:
                continue
            for _ in range(DRAIN):
                try:
                    frames = socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                now = time.monotonic()
                if socket is self.status_socket:
                    self._on_status(frames, now)
                    continue
                if socket is self.socket:
                    op = self._on_reply(frames, now)
                else:
                    op = self._on_direct_reply(frames, self.unit_endpoints[socket], now)
                if op is not None:
                    finished.append(op)
        finished += self._run_timers(time.monotonic())
        return finished

    def _on_reply(self, frames, now):
        """A reply from the broker."""
        reply = self._decode(frames)
        if reply is None:
            return None
        pending = self.pending.get(reply.correlation)
        if pending is None or pending.path == DIRECT_PATH:
            self._late(reply)
            return None
        if reply.status == 503:
            # Not applied: the same RID again shortly, through the broker (as Connection does).
            self.unavailable_replies += 1
            pending.op.code = wire.error_code(reply.payload)
            pending.retry_at = now + self.rng.uniform(0.05, 0.2)
            return None
        self.answered_broker += 1
        return self._complete(reply.correlation, pending, reply, now)

    def _on_direct_reply(self, frames, endpoint, now):
        """A reply from a unit's client ROUTER."""
        reply = self._decode(frames)
        if reply is None:
            return None
        pending = self.pending.get(reply.correlation)
        if pending is None or pending.endpoint != endpoint:
            self._late(reply)
            return None
        if reply.status in REFUSALS:
            if pending.path == DIRECT_PATH:
                self.stale = True
                code = (wire.error_code(reply.payload) or "-")[:40]
                self._fallback(pending, "%d %s" % (reply.status, code), now)
            else:
                self.late_replies += 1  # it has gone through the broker already
            return None
        if pending.path == FALLBACK_PATH:
            self.late_direct_answers += 1  # the unit answered after all: the grid's word, it counts
        self.answered_direct += 1
        return self._complete(reply.correlation, pending, reply, now)

    def _complete(self, correlation, pending, reply, now):
        op = super()._complete(correlation, pending, reply, now)
        if pending.path == FALLBACK_PATH:
            # The other copy may answer too: keep the op a while to compare.
            self.recent[correlation] = op
            while len(self.recent) > RECENT:
                self.recent.popitem(last=False)
        return op

    def _late(self, reply):
        """A reply to a request no longer pending; if it is the other copy of one just answered, they must agree."""
        self.late_replies += 1
        op = self.recent.get(reply.correlation)
        if op is None or reply.status in REFUSALS:
            return
        del self.recent[reply.correlation]
        if op.kind in (PUT, TRADE, OPEN) and op.outcome == OK and reply.status == 200 and reply.version \
                and op.version and reply.version != op.version:
            self.conflicting_replies += 1
            if self.log:
                self.log("%s: two replies to one write disagree: v%d (kept) and v%d from %r: %s" % (
                    self.name, op.version, reply.version, reply.unit, op.describe()))

    def _timer(self, correlation, pending, now):
        if pending.path != DIRECT_PATH:
            return super()._timer(correlation, pending, now)
        if now - pending.first_sent >= self.give_up_after:
            return self._give_up(correlation, pending, now)
        if now >= pending.check_at and now - pending.last_sent >= self.direct_wait:
            self._judge(pending, now)
        return None

    def _run_timers(self, now):
        if self.status_waiting is not None and now - self.status_waiting[1] >= self.status_timeout:
            self.status_waiting = None
            self._install(None, now)
        given_up = super()._run_timers(now)
        self._maybe_refresh(now)
        if self.prune_wanted:
            self._prune()
        return given_up

    def _next_timer(self):
        soonest = time.monotonic() + 3600
        for pending in self.pending.values():
            soonest = min(soonest, pending.first_sent + self.give_up_after)
            if pending.path == DIRECT_PATH:
                soonest = min(soonest, max(pending.check_at, pending.last_sent + self.direct_wait))
            elif pending.retry_at is not None:
                soonest = min(soonest, pending.retry_at)
            else:
                soonest = min(soonest, pending.last_sent + self.resend_after)
        if self.status_waiting is not None:
            soonest = min(soonest, self.status_waiting[1] + self.status_timeout)
        elif self.stale and self.last_refresh is not None:
            soonest = min(soonest, self.last_refresh + self.refresh_every)
        elif self.stale:
            soonest = time.monotonic()
        if self.prune_wanted:
            soonest = time.monotonic()
        return soonest

    def figures(self):
        """The counters the report sums over direct clients."""
        return {
            "sent_direct": self.sent_direct, "sent_broker": self.sent_broker, "fallbacks": dict(self.fallbacks),
            "answered_direct": self.answered_direct, "answered_broker": self.answered_broker,
            "late_direct_answers": self.late_direct_answers, "table_reads": self.refreshes,
            "failed_table_reads": self.refresh_failures, "conflicting_replies": self.conflicting_replies,
            "resends": self.resends, "unavailable_replies": self.unavailable_replies,
        }

    def close(self):
        for socket in list(self.units.values()):
            socket.close(0)
        self.units.clear()
        self.unit_endpoints.clear()
        self.status_socket.close(0)
        super().close()
