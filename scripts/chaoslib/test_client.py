"""client.Connection against a scripted fake broker on inproc://: resends keep
the RID, 503 is retried, silence ends in `unknown`, and the floor is right.
"""

import os
import struct
import sys
import threading
import unittest

import zmq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chaoslib import client, wire  # noqa: E402
from chaoslib.history import FAIL, GET, OK, PUT, UNKNOWN, Op  # noqa: E402


class FakeBroker(threading.Thread):
    """Answers SGC02 like a grid that applies each RID once.

    `script[key]` is a list of what to do with successive sends for that key:
    "drop" (apply, lose the reply), "busy" (503, not applied), "silent" (nothing),
    "ok" (apply, reply); when the list runs out, "ok".
    """

    def __init__(self, context, endpoint, script=None):
        super().__init__(daemon=True)
        self.socket = context.socket(zmq.ROUTER)
        self.socket.bind(endpoint)
        self.script = script or {}
        self.store = {}       # key -> (value, version)
        self.replies = {}     # (client, sequence) -> reply frames (the first reply)
        self.rids = []        # every RID frame received, in order
        self.applied = 0
        self.version = 0
        self.running = True

    def run(self):
        while self.running:
            if not self.socket.poll(20):
                continue
            frames = self.socket.recv_multipart()
            identity, header, correlation, rid, section, operation, key = frames[:7]
            arguments = frames[7:]
            assert header == b"SGC02"
            self.rids.append(rid)
            sequence, floor, client_id = wire.decode_rid(rid)
            steps = self.script.get(key.decode(), [])
            step = steps.pop(0) if steps else "ok"
            if step == "silent":
                continue
            if step == "expired":
                self.socket.send_multipart([identity, b"SGC02", correlation, b"409", b'{"code":"request_expired","message":""}', bytes(8)])
                continue
            if step == "busy":
                self.socket.send_multipart([identity, b"SGC02", correlation, b"503", b'{"code":"unit_busy","message":""}', bytes(8)])
                continue
            reply = self.replies.get((client_id, sequence))
            if reply is None:
                reply = self.apply(operation, key, arguments)
                self.replies[(client_id, sequence)] = reply
            if step == "drop":
                continue
            status, payload, version = reply
            self.socket.send_multipart([identity, b"SGC02", correlation, status, payload, struct.pack(">Q", version) + b"unit-1"])

    def apply(self, operation, key, arguments):
        if operation == b"put":
            self.version += 1
            self.applied += 1
            self.store[key] = (arguments[0], self.version)
            return b"200", str(self.version).encode(), self.version
        if key in self.store:
            value, version = self.store[key]
            return b"200", value, version
        return b"404", b'{"code":"not_found","message":""}', 0

    def stop(self):
        self.running = False
        self.join()
        self.socket.close(0)


class ConnectionTests(unittest.TestCase):
    counter = 0

    def start(self, script=None, resend_after=0.2, give_up_after=1.0):
        ConnectionTests.counter += 1
        endpoint = "inproc://fake-%d" % ConnectionTests.counter
        self.context = zmq.Context.instance()
        self.broker = FakeBroker(self.context, endpoint, script)
        self.broker.start()
        self.connection = client.Connection(self.context, endpoint, "chaos-1-0", resend_after=resend_after,
                                            give_up_after=give_up_after)
        self.addCleanup(self.broker.stop)
        self.addCleanup(self.connection.close)

    def test_put_then_get(self):
        self.start()
        put = self.connection.call(Op(PUT, "r1", value=b"chaos-1-0-1"), "put", [b"chaos-1-0-1"])
        self.assertEqual((put.outcome, put.status, put.version, put.unit, put.attempts), (OK, 200, 1, "unit-1", 1))
        get = self.connection.call(Op(GET, "r1"), "get")
        self.assertEqual((get.outcome, get.payload, get.version), (OK, b"chaos-1-0-1", 1))
        self.assertLessEqual(put.invoke, put.complete)
        self.assertEqual([wire.decode_rid(rid)[:2] for rid in self.broker.rids], [(1, 1), (2, 2)])

    def test_not_found_is_a_definite_failure(self):
        self.start()
        get = self.connection.call(Op(GET, "r9"), "get")
        self.assertEqual((get.outcome, get.status, get.code), (FAIL, 404, "not_found"))

    def test_lost_reply_is_resent_with_the_same_rid_and_applied_once(self):
        self.start({"r1": ["drop"]})
        put = self.connection.call(Op(PUT, "r1", value=b"v"), "put", [b"v"])
        self.assertEqual((put.outcome, put.attempts, put.version), (OK, 2, 1))
        self.assertEqual(self.broker.applied, 1)
        self.assertEqual(self.broker.rids[0], self.broker.rids[1])

    def test_busy_is_retried_with_the_same_rid(self):
        self.start({"r1": ["busy", "busy"]})
        put = self.connection.call(Op(PUT, "r1", value=b"v"), "put", [b"v"])
        self.assertEqual((put.outcome, put.attempts), (OK, 3))
        self.assertEqual(len(set(self.broker.rids)), 1)
        self.assertEqual(self.connection.unavailable_replies, 2)

    def test_expired_request_is_unknown(self):
        self.start({"r1": ["drop", "expired"]})
        put = self.connection.call(Op(PUT, "r1", value=b"v"), "put", [b"v"])
        self.assertEqual((put.outcome, put.status, put.code), (UNKNOWN, 409, "request_expired"))

    def test_silence_ends_unknown_and_holds_the_floor(self):
        self.start({"r1": ["silent"] * 100})
        put = self.connection.call(Op(PUT, "r1", value=b"v"), "put", [b"v"])
        self.assertEqual((put.outcome, put.status, put.code), (UNKNOWN, 504, "timeout"))
        self.assertGreaterEqual(put.attempts, 3)
        self.assertGreaterEqual(put.complete - put.invoke, 1.0)
        self.connection.call(Op(GET, "r2"), "get")
        self.assertEqual(wire.decode_rid(self.broker.rids[-1])[:2], (2, 1))

    def test_floor_is_the_lowest_unanswered_sequence(self):
        self.start({"r1": ["silent"]})
        first = self.connection.submit(Op(PUT, "r1", value=b"a"), "put", [b"a"])
        second = self.connection.submit(Op(GET, "r2"), "get")
        while second.complete is None:
            self.connection.poll(0.05)
        third = self.connection.submit(Op(GET, "r3"), "get")
        while first.complete is None or third.complete is None:
            self.connection.poll(0.05)
        self.connection.call(Op(GET, "r4"), "get")
        floors = {wire.decode_rid(rid)[0]: wire.decode_rid(rid)[1] for rid in self.broker.rids}
        self.assertEqual(floors, {1: 1, 2: 1, 3: 1, 4: 4})
        self.assertEqual(first.outcome, OK)


class WorkerTests(unittest.TestCase):
    def test_mix_and_no_two_writes_of_a_key_in_flight(self):
        context = zmq.Context.instance()
        broker = FakeBroker(context, "inproc://fake-worker")
        broker.start()
        self.addCleanup(broker.stop)
        worker = client.Worker(context, "inproc://fake-worker", "chaos-3-1", seed=3)
        worker.start()
        threading.Event().wait(0.5)
        worker.stopping.set()
        worker.join(5)
        self.assertIsNone(worker.error)
        history = worker.history
        self.assertGreater(len(history), 50)
        self.assertTrue(all(op.complete is not None for op in history))
        kinds = {op.kind for op in history}
        self.assertLessEqual({"put", "get", "trade"}, kinds)
        values = [op.value for op in history if op.kind == PUT]
        self.assertEqual(len(values), len(set(values)))
        for a in history:
            for b in history:
                if a is not b and a.kind == b.kind == PUT and a.key == b.key:
                    self.assertFalse(a.invoke < b.invoke < a.complete, "two writes of %s in flight" % a.key)
        trades = [op for op in history if op.kind == "trade"]
        self.assertTrue(all(1 <= op.amount <= 300 for op in trades))


if __name__ == "__main__":
    unittest.main()
