"""wire.py against byte examples of SGC02 frames."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from chaoslib import wire  # noqa: E402


class RequestTests(unittest.TestCase):
    def test_rid_bytes(self):
        rid = wire.encode_rid(5, 3, b"chaos-7-0")
        self.assertEqual(rid, bytes.fromhex("0000000000000005" "0000000000000003") + b"chaos-7-0")
        self.assertEqual(wire.decode_rid(rid), (5, 3, b"chaos-7-0"))

    def test_rid_limits(self):
        self.assertEqual(len(wire.encode_rid(2**64 - 1, 0, b"x" * 64)), 80)
        for bad in (b"", b"x" * 65, "text"):
            with self.assertRaises(ValueError):
                wire.encode_rid(1, 0, bad)
        with self.assertRaises(ValueError):
            wire.encode_rid(2**64, 0, b"c")
        with self.assertRaises(wire.WireError):
            wire.decode_rid(b"\x00" * 16)

    def test_put_request_frames(self):
        correlation = wire.encode_correlation(7)
        rid = wire.encode_rid(1, 1, b"c1")
        frames = wire.encode_request(correlation, rid, "register", "put", "r3", [b"c1-1"])
        self.assertEqual(frames, [
            b"SGC02",
            bytes.fromhex("0000000000000007"),
            bytes.fromhex("00000000000000010000000000000001") + b"c1",
            b"register", b"put", b"r3", b"c1-1",
        ])

    def test_trade_request_has_one_json_argument(self):
        frames = wire.encode_request(wire.encode_correlation(1), wire.encode_rid(9, 0, b"c"), "customer", "trade", "a4",
                                     ['{"amount":12,"stock":"AAPL"}'])
        self.assertEqual(frames[3:], [b"customer", b"trade", b"a4", b'{"amount":12,"stock":"AAPL"}'])

    def test_old_protocol_has_no_rid(self):
        frames = wire.encode_request(b"\x01", b"ignored", "register", "get", "r1", protocol=wire.SGC01)
        self.assertEqual(frames, [b"SGC01", b"\x01", b"register", b"get", b"r1"])

    def test_correlation(self):
        self.assertEqual(wire.encode_correlation(1), b"\x00" * 7 + b"\x01")
        with self.assertRaises(ValueError):
            wire.encode_correlation(0)
        with self.assertRaises(ValueError):
            wire.encode_request(b"", b"rid", "s", "get", "k")


class ReplyTests(unittest.TestCase):
    def test_ok_reply_with_meta(self):
        reply = wire.decode_reply([b"SGC02", bytes.fromhex("0000000000000007"), b"200", b"17",
                                   bytes.fromhex("0000000000000011") + b"register-2"])
        self.assertEqual((reply.correlation, reply.status, reply.payload, reply.version, reply.unit),
                         (bytes.fromhex("0000000000000007"), 200, b"17", 17, "register-2"))

    def test_short_or_missing_meta_is_version_zero(self):
        self.assertEqual(wire.decode_reply([b"SGC02", b"\x01", b"503", b"{}", b"\x00\x01"]).version, 0)
        self.assertEqual(wire.decode_reply([b"SGC02", b"\x01", b"503", b"{}"]).unit, "")
        self.assertEqual(wire.decode_meta(bytes(8)), (0, ""))

    def test_large_version(self):
        meta = bytes.fromhex("0000000100000002") + b"u"
        self.assertEqual(wire.decode_meta(meta), ((1 << 32) + 2, "u"))

    def test_old_header_is_read(self):
        reply = wire.decode_reply([b"SGC01", b"\x01", b"400", b'{"code":"protocol_retired","message":"use SGC02"}', bytes(8)])
        self.assertEqual((reply.protocol, reply.status), (b"SGC01", 400))
        self.assertEqual(wire.error_code(reply.payload), "protocol_retired")

    def test_bad_replies(self):
        for frames in ([b"SGC02", b"\x01", b"200"],
                       [b"MDPC01", b"\x01", b"200", b""],
                       [b"SGC02", b"", b"200", b""],
                       [b"SGC02", b"\x01", b"20", b""],
                       [b"SGC02", b"\x01", b"2x0", b""]):
            with self.assertRaises(wire.WireError, msg=repr(frames)):
                wire.decode_reply(frames)

    def test_error_code(self):
        self.assertEqual(wire.error_code(b'{"code":"insufficient_funds","message":"..."}'), "insufficient_funds")
        self.assertIsNone(wire.error_code(b"plain text"))
        self.assertIsNone(wire.error_code(b"[1]"))
        self.assertIsNone(wire.error_code(b"\xff"))


if __name__ == "__main__":
    unittest.main()
