"""The record of one operation.

The client threads fill these in as requests go out and replies come back, and
the checker reads them afterwards. Keeping the record in its own module lets the
checker's tests build synthetic histories without any socket code.
"""

from dataclasses import dataclass
from typing import Optional

# Outcomes. `unknown` means the client gave up without a definite answer: the
# operation may or may not have been applied, and the checker must allow both.
OK = "ok"
FAIL = "fail"
UNKNOWN = "unknown"

# Kinds of operation.
PUT = "put"          # register put of a unique value
GET = "get"          # register get
TRADE = "trade"      # customer trade (debits the account)
ACCOUNT = "account"  # customer get (the account JSON)
OPEN = "open"        # customer open (before the faults start)

# The way a request went (PROTOCOL.md 1.6). Only for people reading a violation or
# the report: the checker's rules are the same whatever the path.
BROKER_PATH = "broker"      # SGC02 through the broker only
DIRECT_PATH = "direct"      # SGD02 straight to the partition's primary unit, never through the broker
FALLBACK_PATH = "fallback"  # sent direct first, then (same request id) through the broker

REGISTER = "register"
CUSTOMER = "customer"

REGISTER_KEYS = ["r%d" % i for i in range(40)]
ACCOUNTS = ["a%d" % i for i in range(20)]
INITIAL_BALANCE = 10_000_000


def section_of(kind):
    """The section an operation kind runs in."""
    return REGISTER if kind in (PUT, GET) else CUSTOMER


@dataclass(slots=True)  # slots: a long run records millions of these
class Op:
    """One logical operation: a request id, however many times it was sent.

    Times are time.monotonic() seconds. `complete` is when the definite reply
    arrived, or when the client gave up (outcome unknown). `version` is the
    reply's meta version (for a put, the new version).
    """

    kind: str
    key: str
    client: str = ""
    sequence: int = 0
    value: Optional[bytes] = None   # put: the value written
    amount: Optional[int] = None    # trade: cents debited
    invoke: float = 0.0
    complete: Optional[float] = None
    outcome: str = UNKNOWN
    status: Optional[int] = None
    code: Optional[str] = None
    version: int = 0
    payload: bytes = b""
    unit: str = ""
    attempts: int = 0               # times the request was sent
    final: bool = False             # a read of the final check
    path: str = BROKER_PATH         # how it was sent: broker, direct, or direct then broker (fallback)

    @property
    def section(self):
        return section_of(self.kind)

    def describe(self, t0=0.0):
        """One line for a person: what was asked, when, and what came back."""
        what = self.kind
        if self.kind == PUT and self.value is not None:
            what += " %r" % self.value.decode("utf-8", "replace")
        if self.kind == TRADE:
            what += " %s" % self.amount
        end = "?" if self.complete is None else "%.3f" % (self.complete - t0)
        seen = self.outcome
        if self.status is not None:
            seen += " %d" % self.status
        if self.code:
            seen += " " + self.code
        if self.outcome == OK or self.status == 404:
            seen += " v%d" % self.version
        if self.attempts > 1:
            seen += " (sent %d times)" % self.attempts
        if self.path != BROKER_PATH:
            seen += " [%s]" % self.path
        if self.kind in (GET, ACCOUNT) and self.outcome == OK:
            seen += " %r" % self.payload[:80].decode("utf-8", "replace")
        return "%s %s/%s by %s #%d [%.3f..%s s]: %s" % (
            what, self.section, self.key, self.client or "?", self.sequence,
            self.invoke - t0, end, seen)
