"""Clients of the grid: a DEALER connection with request ids, and the workload threads.

Connection owns one client id and numbers its requests 1, 2, 3... Every send of
one request carries the very same RID frame, so the grid applies it at most once
and answers a retry with the first reply. What the client does:
- no reply for RESEND_AFTER seconds: send again (same RID, same correlation);
- 503 (not applied, retry later): send again after 50..200 ms;
- nothing definite after GIVE_UP_AFTER seconds: give up, outcome `unknown`.
Replies to correlations no longer pending (a resent request answered twice, or
answered after we gave up) are counted and ignored.

A socket is used only by the thread that made it (ZeroMQ sockets are not thread
safe); the zmq.Context is shared.
"""

import json
import random
import sys
import threading
import time

import zmq

from . import wire
from .checker import balance_of
from .history import ACCOUNT, ACCOUNTS, FAIL, GET, OK, OPEN, PUT, REGISTER_KEYS, TRADE, UNKNOWN, Op

RESEND_AFTER = 1.5
GIVE_UP_AFTER = 15.0
DEPTH = 4
STOCKS = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA"]
# Error codes that say nothing about whether the request was applied: the grid
# no longer remembers this request id (its reply window moved on), so it is unknown.
INDEFINITE_CODES = {"request_expired"}


class Pending:
    """A request sent and not yet answered definitely."""

    __slots__ = ("op", "frames", "first_sent", "last_sent", "retry_at")

    def __init__(self, op, frames, now):
        self.op = op
        self.frames = frames
        self.first_sent = now
        self.last_sent = now
        self.retry_at = None  # set after a 503: when to send again


class Connection:
    """One DEALER to the broker's client endpoint, speaking for one client id."""

    def __init__(self, context, endpoint, client_id, rng=None, protocol=wire.SGC02,
                 resend_after=RESEND_AFTER, give_up_after=GIVE_UP_AFTER, log=None):
        self.client_id = client_id.encode() if isinstance(client_id, str) else client_id
        self.name = self.client_id.decode("utf-8", "replace")
        self.rng = rng or random.Random()
        self.protocol = protocol
        self.resend_after = resend_after
        self.give_up_after = give_up_after
        self.log = log
        self.socket = context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(endpoint)
        self.next_sequence = 1
        self.next_correlation = 1
        self.pending = {}               # correlation -> Pending
        self.lowest_abandoned = None    # lowest sequence we gave up on (never answered)
        self.late_replies = 0
        self.bad_replies = 0
        self.resends = 0
        self.unavailable_replies = 0

    @property
    def in_flight(self):
        return len(self.pending)

    def floor(self):
        """The lowest sequence whose reply has not arrived: every one below is answered and never sent again.

        A request we gave up on was never answered, so it holds the floor down for
        the rest of the run (the grid must tolerate that).
        """
        candidates = [pending.op.sequence for pending in self.pending.values()]
        candidates.append(self.next_sequence)
        if self.lowest_abandoned is not None:
            candidates.append(self.lowest_abandoned)
        return min(candidates)

    def _number(self, op):
        """A new request: its correlation and RID (kept for every copy of it); records `op`'s invoke time."""
        sequence = self.next_sequence
        rid = wire.encode_rid(sequence, self.floor(), self.client_id)
        self.next_sequence += 1
        correlation = wire.encode_correlation(self.next_correlation)
        self.next_correlation += 1
        now = time.monotonic()
        op.client, op.sequence, op.invoke = self.name, sequence, now
        return correlation, rid, now

    def submit(self, op, operation, arguments=()):
        """Sends a new request for `op` (its kind, key, section) and records its invoke time."""
        correlation, rid, now = self._number(op)
        frames = wire.encode_request(correlation, rid, op.section, operation, op.key, arguments, self.protocol)
        self.pending[correlation] = Pending(op, frames, now)
        self._send(self.pending[correlation])
        return op

    def _send(self, pending):
        """One send of a request. A full queue just leaves it to the resend timer."""
        pending.op.attempts += 1
        try:
            self.socket.send_multipart(pending.frames, zmq.NOBLOCK)
        except zmq.Again:
            pass

    def poll(self, timeout):
        """Waits up to `timeout` seconds for replies, runs the timers; returns the operations now finished."""
        finished = []
        wait = max(0.0, min(timeout, self._next_timer() - time.monotonic()))
        if self.socket.poll(int(wait * 1000) + (1 if wait > 0 else 0)):
            while True:
                try:
                    frames = self.socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                op = self._on_reply(frames, time.monotonic())
                if op is not None:
                    finished.append(op)
        finished += self._run_timers(time.monotonic())
        return finished

    def _next_timer(self):
        """When the earliest resend or give-up falls due (far away when nothing is pending)."""
        soonest = time.monotonic() + 3600
        for pending in self.pending.values():
            resend = pending.retry_at if pending.retry_at is not None else pending.last_sent + self.resend_after
            soonest = min(soonest, resend, pending.first_sent + self.give_up_after)
        return soonest

    def _decode(self, frames):
        """The Reply in `frames`, or None (counted, logged) when it does not follow the protocol."""
        try:
            return wire.decode_reply(frames)
        except wire.WireError as error:
            self.bad_replies += 1
            if self.log:
                self.log("%s: unreadable reply (%s): %r" % (self.name, error, [bytes(f)[:40] for f in frames]))
            return None

    def _on_reply(self, frames, now):
        """Handles one reply; returns the op when it is now definite."""
        reply = self._decode(frames)
        if reply is None:
            return None
        pending = self.pending.get(reply.correlation)
        if pending is None:
            self.late_replies += 1
            return None
        if reply.status == 503:
            # Not applied: send the same RID again shortly.
            self.unavailable_replies += 1
            pending.op.code = wire.error_code(reply.payload)
            pending.retry_at = now + self.rng.uniform(0.05, 0.2)
            return None
        return self._complete(reply.correlation, pending, reply, now)

    def _complete(self, correlation, pending, reply, now):
        """Records a definite reply in the op, which is no longer pending; returns the op."""
        del self.pending[correlation]
        op = pending.op
        op.complete = now
        op.status = reply.status
        op.code = None if reply.status == 200 else wire.error_code(reply.payload)
        op.outcome = OK if reply.status == 200 else FAIL
        if op.code in INDEFINITE_CODES:
            op.outcome = UNKNOWN
        op.payload = reply.payload
        op.version = reply.version
        if op.version == 0 and op.kind == PUT and reply.status == 200 and reply.payload.isdigit():
            op.version = int(reply.payload)  # a put's payload is its version, should the meta lack it
        op.unit = sys.intern(reply.unit)  # a handful of unit names, millions of replies
        if op.kind == PUT and reply.status == 200:
            op.payload = b""  # only the version, already kept: saves memory on long runs
        return op

    def _run_timers(self, now):
        """Gives up on requests past GIVE_UP_AFTER, resends the ones due; returns those given up."""
        given_up = []
        for correlation, pending in list(self.pending.items()):
            op = self._timer(correlation, pending, now)
            if op is not None:
                given_up.append(op)
        return given_up

    def _timer(self, correlation, pending, now):
        """One pending request's timers: the op when given up on, else None (resent when due)."""
        if now - pending.first_sent >= self.give_up_after:
            return self._give_up(correlation, pending, now)
        if pending.retry_at is not None and now >= pending.retry_at:
            pending.retry_at, pending.last_sent = None, now
            self.resends += 1
            self._send(pending)
        elif pending.retry_at is None and now - pending.last_sent >= self.resend_after:
            pending.last_sent = now
            self.resends += 1
            self._send(pending)
        return None

    def _give_up(self, correlation, pending, now):
        """No definite answer in GIVE_UP_AFTER: the outcome is unknown, and the request holds the floor."""
        del self.pending[correlation]
        op = pending.op
        op.complete, op.outcome, op.status = now, UNKNOWN, 504
        op.code = op.code or "timeout"
        if self.lowest_abandoned is None or op.sequence < self.lowest_abandoned:
            self.lowest_abandoned = op.sequence
        return op

    def call(self, op, operation, arguments=()):
        """One request, waited for: returns the op once it is definite or given up."""
        self.submit(op, operation, arguments)
        while not self._finished(op):
            self.poll(0.1)
        return op

    def _finished(self, op):
        return all(pending.op is not op for pending in self.pending.values())

    def close(self):
        self.socket.close(0)


def trade_arguments(amount, stock):
    """The one JSON frame of a trade."""
    return [json.dumps({"amount": amount, "stock": stock}, separators=(",", ":"))]


class Worker(threading.Thread):
    """A workload client: its own DEALER and client id, up to DEPTH requests in flight.

    Mix: 45% register put of a unique value, 25% register get, 25% trade of 1..300
    cents, 5% account get. It never has two writes of one register key in flight.
    Every operation goes into `history` as it is sent, so the history is complete
    even when the run is interrupted.

    With `direct`, its connection is a direct.DirectConnection: each request goes
    straight to its partition's primary unit (SGD02), through the broker when that
    fails; the operations and their record are the same.
    """

    def __init__(self, context, endpoint, client_id, seed, protocol=wire.SGC02, log=None, direct=False):
        super().__init__(name=client_id, daemon=True)
        self.context = context
        self.endpoint = endpoint
        self.client_id = client_id
        self.rng = random.Random("%s/%s" % (seed, client_id))
        self.protocol = protocol
        self.log = log
        self.direct = direct
        self.history = []
        self.stopping = threading.Event()   # finish what is in flight, start nothing new
        self.aborting = threading.Event()   # leave now (Ctrl-C)
        self.writing = set()                # register keys with a put in flight
        self.puts = 0
        self.connection = None
        self.error = None

    def run(self):
        try:
            if self.direct:
                from .direct import DirectConnection  # it builds on Connection: imported here, not at the top
                self.connection = DirectConnection(self.context, self.endpoint, self.client_id, self.rng, log=self.log)
            else:
                self.connection = Connection(self.context, self.endpoint, self.client_id, self.rng, self.protocol, log=self.log)
            try:
                while not self.stopping.is_set() and not self.aborting.is_set():
                    while self.connection.in_flight < DEPTH:
                        self._start_one()
                    self._finish(self.connection.poll(0.05))
                while self.connection.in_flight and not self.aborting.is_set():
                    self._finish(self.connection.poll(0.1))
            finally:
                self.connection.close()
        except Exception as error:  # reported by the runner: a dead worker is a harness error
            self.error = error

    def _start_one(self):
        """Picks the next operation by the mix and sends it."""
        draw = self.rng.random()
        if draw < 0.45:
            free = [key for key in REGISTER_KEYS if key not in self.writing]
            key = self.rng.choice(free)
            self.puts += 1
            value = ("%s-%d" % (self.client_id, self.puts)).encode()
            op = Op(PUT, key, value=value)
            self.writing.add(key)
            arguments = [value]
        elif draw < 0.70:
            op, arguments = Op(GET, self.rng.choice(REGISTER_KEYS)), []
        elif draw < 0.95:
            amount = self.rng.randint(1, 300)
            op = Op(TRADE, self.rng.choice(ACCOUNTS), amount=amount)
            arguments = trade_arguments(amount, self.rng.choice(STOCKS))
        else:
            op, arguments = Op(ACCOUNT, self.rng.choice(ACCOUNTS)), []
        operation = {PUT: "put", GET: "get", TRADE: "trade", ACCOUNT: "get"}[op.kind]
        self.history.append(op)
        self.connection.submit(op, operation, arguments)

    def _finish(self, ops):
        for op in ops:
            if op.kind == PUT:
                self.writing.discard(op.key)


def open_accounts(connection, history, balance, deadline):
    """Opens every account with `balance` (retrying until 200 or 409 exists).

    Returns {account: initial balance}. An account that already exists (409) gets
    its balance read back. Raises RuntimeError when the deadline passes.
    """
    initial = {}
    argument = [json.dumps({"balance": balance}, separators=(",", ":"))]
    for account in ACCOUNTS:
        while account not in initial:
            if time.monotonic() > deadline:
                raise RuntimeError("could not open account %s in time" % account)
            op = Op(OPEN, account)
            history.append(op)
            connection.call(op, "open", argument)
            if op.outcome == OK:
                initial[account] = balance
            elif op.status == 409 and op.code == "exists":
                existing = read_until_definite(connection, history, ACCOUNT, account, deadline, final=False)
                if existing is not None and existing.outcome == OK:
                    initial[account] = balance_of(existing.payload)
            elif op.outcome == FAIL:
                raise RuntimeError("open %s answered %s %s: %r" % (account, op.status, op.code, op.payload[:200]))
    return initial


def read_until_definite(connection, history, kind, key, deadline, final=True):
    """Reads a key again and again until the grid answers 200 or 404; None when the deadline passes."""
    while time.monotonic() < deadline:
        op = Op(kind, key, final=final)
        history.append(op)
        connection.call(op, "get")
        if op.outcome == OK or op.status == 404:
            return op
        if op.outcome == FAIL:
            time.sleep(0.2)  # a definite refusal (500, 400...): try again, but not in a tight loop
    return None


def final_reads(connection, history, deadline, per_key=30.0):
    """The final check: every register key and every account, read through the grid.

    Each key gets at most `per_key` seconds, so one partition that never answers
    cannot take the time of all the others; a key left without a definite answer
    is a violation (checker.check_final_reads).
    """
    for kind, keys in ((GET, REGISTER_KEYS), (ACCOUNT, ACCOUNTS)):
        for key in keys:
            read_until_definite(connection, history, kind, key, min(deadline, time.monotonic() + per_key))
