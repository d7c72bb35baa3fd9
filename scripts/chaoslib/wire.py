"""The native client protocol SGC02, and direct requests SGD02, as frames: no sockets here.

Request:  b"SGC02", correlation (1..32 B), RID, section, operation, key, args...
Direct:   b"SGD02", correlation (1..32 B), RID, route, section, operation, key, args...
          (to a unit's client ROUTER, PROTOCOL.md 1.6)
RID:      sequence u64 BE | floor u64 BE | client id (1..64 B)
Route:    partition u32 BE | epoch u64 BE (12 bytes)
Reply:    b"SGC02", correlation (echoed), status (3 ASCII digits), payload, meta
          (a unit answers a direct request in this same form)
Meta:     version u64 BE | unit name (UTF-8); shorter than 8 bytes = version 0

SGC01 (the old protocol: no RID frame) is kept only so the harness can be
tried against an old binary; such a grid gives no exactly-once guarantee.
"""

import json
import struct

SGC02 = b"SGC02"
SGC01 = b"SGC01"
SGD02 = b"SGD02"
U64_MAX = (1 << 64) - 1
U32_MAX = (1 << 32) - 1


class WireError(ValueError):
    """A reply that does not follow the protocol."""


def encode_correlation(number):
    """A correlation id: the counter as 8 bytes big-endian, as the Swift client does."""
    if not 0 < number <= U64_MAX:
        raise ValueError("correlation must be 1..2^64-1, got %r" % (number,))
    return struct.pack(">Q", number)


def encode_rid(sequence, floor, client_id):
    """The request id frame. A retry must send these very bytes again."""
    if not 0 <= sequence <= U64_MAX or not 0 <= floor <= U64_MAX:
        raise ValueError("sequence and floor must fit in a u64")
    if not isinstance(client_id, bytes) or not 1 <= len(client_id) <= 64:
        raise ValueError("client id must be 1..64 bytes, got %r" % (client_id,))
    return struct.pack(">QQ", sequence, floor) + client_id


def decode_rid(frame):
    """(sequence, floor, client id) from a RID frame; for tests and debugging."""
    if len(frame) < 17 or len(frame) > 16 + 64:
        raise WireError("a RID frame is 17..80 bytes, got %d" % len(frame))
    sequence, floor = struct.unpack(">QQ", frame[:16])
    return sequence, floor, bytes(frame[16:])


def _text(value):
    """Section, operation and key frames are UTF-8; bytes pass through."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


def encode_request(correlation, rid, section, operation, key, arguments=(), protocol=SGC02):
    """The frames of one request. With protocol SGC01 the RID frame is left out."""
    if not 1 <= len(correlation) <= 32:
        raise ValueError("correlation must be 1..32 bytes")
    frames = [protocol, correlation]
    if protocol == SGC02:
        frames.append(rid)
    elif protocol != SGC01:
        raise ValueError("unknown protocol %r" % (protocol,))
    frames += [_text(section), _text(operation), _text(key)]
    frames += [_text(argument) for argument in arguments]
    return frames


def encode_route(partition, epoch):
    """The route frame of a direct request: the partition (u32) and the epoch (u64) the client believes lead it."""
    if not 0 <= partition <= U32_MAX or not 0 <= epoch <= U64_MAX:
        raise ValueError("route out of range: partition %r, epoch %r" % (partition, epoch))
    return struct.pack(">IQ", partition, epoch)


def encode_direct_request(correlation, rid, route, section, operation, key, arguments=()):
    """The frames of one direct request (SGD02), for the unit leading the key's partition.

    Correlation and RID are the very bytes the same request carries through the
    broker, so a copy sent either way is one request to the grid.
    """
    if not 1 <= len(correlation) <= 32:
        raise ValueError("correlation must be 1..32 bytes")
    if len(route) != 12:
        raise ValueError("a route frame is 12 bytes, got %d" % len(route))
    frames = [SGD02, correlation, rid, route, _text(section), _text(operation), _text(key)]
    frames += [_text(argument) for argument in arguments]
    return frames


def decode_meta(frame):
    """(version, unit name) from a meta frame; shorter than 8 bytes is version 0, no unit."""
    if len(frame) < 8:
        return 0, ""
    (version,) = struct.unpack(">Q", frame[:8])
    return version, bytes(frame[8:]).decode("utf-8", "replace")


class Reply:
    """A decoded native reply."""

    __slots__ = ("correlation", "status", "payload", "version", "unit", "protocol")

    def __init__(self, correlation, status, payload, version, unit, protocol):
        self.correlation = correlation
        self.status = status
        self.payload = payload
        self.version = version
        self.unit = unit
        self.protocol = protocol

    def __repr__(self):
        return "Reply(%r, %d, %r, v%d, %r)" % (self.correlation, self.status, self.payload[:60], self.version, self.unit)


def decode_reply(frames):
    """A Reply from the frames a DEALER received, or WireError.

    Both SGC02 and SGC01 headers are read, so that an old grid's
    `protocol_retired` answer (or an old binary) is reported clearly instead of
    being dropped as noise.
    """
    frames = [bytes(frame) for frame in frames]
    if len(frames) < 4:
        raise WireError("a reply has at least 4 frames, got %d" % len(frames))
    header = frames[0]
    if header not in (SGC02, SGC01):
        raise WireError("unknown reply header %r" % header[:16])
    correlation, status_frame, payload = frames[1], frames[2], frames[3]
    if not 1 <= len(correlation) <= 32:
        raise WireError("bad correlation length %d" % len(correlation))
    if len(status_frame) != 3 or not status_frame.isdigit():
        raise WireError("status is not 3 digits: %r" % status_frame[:16])
    version, unit = decode_meta(frames[4]) if len(frames) > 4 else (0, "")
    return Reply(correlation, int(status_frame), payload, version, unit, header)


def error_code(payload):
    """The `code` of a JSON error payload, or None when the payload is not one."""
    try:
        document = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if isinstance(document, dict) and isinstance(document.get("code"), str):
        return document["code"]
    return None
