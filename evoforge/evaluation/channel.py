"""The narrow channel between an evaluator and the candidate it scores: plain values only.

The evaluator side and the candidate side of an evaluation are two processes that share
nothing but two pipes. This module is both ends of them. It is a standalone module (the
standard library, and numpy only when a message holds arrays), because each side runs it
inside the sandbox with whatever interpreter the user configured, without evoforge.

**Format.** A message is a frame: a 4-byte big-endian length and a binary body, one
tagged value (a dict with ``str`` keys) followed by the raw bytes of its arrays (see the
table in the values section below). Values are ``None``, ``bool``, ``int``, ``float``
(NaN and infinities included), ``complex``, ``str``, ``bytes``, lists, tuples, dicts,
numpy arrays (a plain numeric or boolean dtype and a shape) and numpy scalars; scalars are
packed as fixed-size binary fields, strings and bytes with their length, and an array's
bytes travel as they are, aligned, so a message costs the two sides little more than the
copies the pipe makes. Reading a message never executes anything: every length is checked
against the body before it is used, arrays must have a plain numeric or boolean dtype (no
objects, no records) whose size times shape fits the body, every byte of the body must
belong to the value, nesting is bounded, and a frame over the size limit is refused before
its body is read. Nothing is pickled.

**Protocol.** The candidate side sends one *hello* (the functions its program defines, or
why it could not be loaded), then answers each request in order: ``call`` (one call) or
``batch`` (many independent calls of one function, one round trip). The evaluator side
waits for each answer with a per-call time limit. A candidate's exception comes back as
:class:`CandidateError` (type, message, traceback tail). A dead, hanging or garbled
candidate raises :class:`ChannelBroken` and marks the channel broken for good: the
evaluation then fails with that reason, whatever the evaluator does with the exception.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = [
    "CandidateError",
    "ChannelBroken",
    "ChannelError",
    "EvaluatorEnd",
    "FrameReader",
    "call_frame",
    "decode",
    "encode",
    "read_frame",
    "write_frame",
]

MAX_DEPTH = 32
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
TRACEBACK_TAIL_CHARS = 4000
_LENGTH = struct.Struct(">I")
_ARRAY_KINDS = "biufc"  # bool, signed and unsigned integers, floats, complex


class ChannelError(ValueError):
    """A value that cannot be sent, or bytes that are not a well-formed message."""


class ChannelBroken(BaseException):
    """The candidate side died, hung or sent garbage: the evaluation cannot go on.

    A ``BaseException`` so that an evaluator's ``except Exception`` does not swallow it;
    the evaluation fails with :attr:`reason` even if the evaluator catches it anyway.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CandidateError(Exception):
    """The candidate's function raised. ``kind``, ``message`` and ``traceback_tail`` say how."""

    def __init__(self, kind: str, message: str, traceback_tail: str = "") -> None:
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind
        self.message = message
        self.traceback_tail = traceback_tail


# -- values ---------------------------------------------------------------------------
#
# A value is a tag byte and what the tag says follows (little-endian):
#   N None, T True, F False, i int64, f float64, c complex (two float64),
#   I a larger int (u32 length, its decimal digits), s str (u32 length, UTF-8),
#   b bytes (u32 length, raw), l list / t tuple (u32 count, the items),
#   d dict (u32 count, key and value in turn),
#   S numpy scalar (u8 dtype length, dtype text, its itemsize of raw bytes),
#   a numpy array (u8 dtype length, dtype text, u8 number of dimensions, u64 each);
#     its raw bytes (C order) come after the whole value stream, in order of appearance,
#     each starting at a multiple of 8 from the start of the body.
# A body is a u32 stream length, the stream (one value), zero bytes up to a multiple of 8,
# then the arrays' bytes, each followed by zero bytes up to a multiple of 8.

_U32 = struct.Struct("<I")
_TAG_U32 = struct.Struct("<cI").pack
_TAG_I64 = struct.Struct("<cq").pack
_TAG_F64 = struct.Struct("<cd").pack
_TAG_C128 = struct.Struct("<cdd").pack
_I64_MIN, _I64_END = -(1 << 63), 1 << 63
_ZEROS = bytes(8)

_ndarray: Any = None
"""``numpy.ndarray`` once numpy is loaded (the commonest tagged value, checked early)."""
_STRINGS: dict[str, bytes] = {}
"""Short strings already packed (a message's keys, function names): packed once."""


def encode(value: object) -> bytearray:
    """The body that carries ``value``; :class:`ChannelError` for what may not travel.

    Raises ``ValueError`` (not a :class:`ChannelError`) for an int too long to write as
    decimal digits, as ``str()`` does.
    """
    return _encode(value, 0, 0)


def _encode(value: object, reserve: int, depth: int) -> bytearray:
    """:func:`encode`, after ``reserve`` bytes left for the caller (a frame's length);
    ``value`` counts as nested ``depth`` levels deep."""
    body = bytearray(reserve + 4)
    arrays: list[bytes] = []
    _put(value, body, arrays, depth)
    return _finish(body, reserve, arrays)


def _finish(body: bytearray, reserve: int, arrays: list[bytes]) -> bytearray:
    """Complete a body whose value stream was written after ``reserve`` + 4 bytes: its
    stream length, then the arrays' bytes, aligned."""
    _U32.pack_into(body, reserve, len(body) - reserve - 4)
    if arrays:
        if (len(body) - reserve) % 8:
            body += _ZEROS[: -(len(body) - reserve) % 8]
        for raw in arrays:
            body += raw
            if len(raw) % 8:
                body += _ZEROS[: -len(raw) % 8]
    return body


def _put(value: object, out: bytearray, arrays: list[bytes], depth: int) -> None:
    """Append ``value``'s tagged form to ``out`` (arrays' bytes to ``arrays``)."""
    if depth > MAX_DEPTH:
        raise ChannelError(f"value nested deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if kind is float:
        out += _TAG_F64(b"f", value)
    elif kind is int:
        if _I64_MIN <= value < _I64_END:  # type: ignore[operator]
            out += _TAG_I64(b"i", value)
        else:
            digits = str(value).encode()
            out += _TAG_U32(b"I", len(digits))
            out += digits
    elif kind is str:
        packed = _STRINGS.get(value)  # type: ignore[call-overload]
        if packed is None:
            data = value.encode("utf-8", "surrogatepass")  # type: ignore[attr-defined]
            packed = _TAG_U32(b"s", len(data)) + data
            if len(packed) <= 64 and len(_STRINGS) < 1024:
                _STRINGS[value] = packed  # type: ignore[index]
        out += packed
    elif kind is _ndarray:
        _put_array(value, out, arrays)
    elif kind is tuple or kind is list:
        out += _TAG_U32(b"t" if kind is tuple else b"l", len(value))  # type: ignore[arg-type]
        depth += 1
        if depth > MAX_DEPTH:
            for item in value:  # type: ignore[attr-defined]
                _put(item, out, arrays, depth)
            return
        for item in value:  # type: ignore[attr-defined]
            kind = type(item)
            if kind is float:  # the commonest items, packed here
                out += _TAG_F64(b"f", item)
            elif kind is int and _I64_MIN <= item < _I64_END:
                out += _TAG_I64(b"i", item)
            else:
                _put(item, out, arrays, depth)
    elif kind is dict:
        out += _TAG_U32(b"d", len(value))  # type: ignore[arg-type]
        depth += 1
        for key, item in value.items():  # type: ignore[attr-defined]
            _put(key, out, arrays, depth)
            _put(item, out, arrays, depth)
    elif value is None:
        out += b"N"
    elif kind is bool:
        out += b"T" if value else b"F"
    else:
        _put_other(value, out, arrays, depth)


_CALL_HEADS: dict[tuple[str, int], bytes] = {}
"""The stream of a call's message up to its arguments, by function name and count."""


def call_frame(name: str, args: tuple[object, ...]) -> bytearray:
    """The frame :func:`write_frame` makes of ``{"op": "call", "name": name, "args": args}``
    (byte for byte), with the part before the arguments packed once per name and count."""
    head = _CALL_HEADS.get((name, len(args)))
    if head is None:
        stream = _encode({"op": "call", "name": name, "args": (None,) * len(args)}, 0, -1)
        head = bytes(stream[4 : len(stream) - len(args)])  # the Nones are the arguments
        if len(_CALL_HEADS) < 256:
            _CALL_HEADS[(name, len(args))] = head
    frame = bytearray(8)
    frame += head
    arrays: list[bytes] = []
    for item in args:  # as items of a tuple in a dict in the message: 1 level deep
        kind = type(item)
        if kind is _ndarray:
            _put_array(item, frame, arrays)
        elif kind is float:
            frame += _TAG_F64(b"f", item)
        else:
            _put(item, frame, arrays, 1)
    _finish(frame, 4, arrays)
    _LENGTH.pack_into(frame, 0, len(frame) - 4)
    return frame


def _put_other(value: object, out: bytearray, arrays: list[bytes], depth: int) -> None:
    """:func:`_put` for everything but exact plain types, lists, tuples, dicts, arrays."""
    global _ndarray
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        _ndarray = numpy.ndarray
        if isinstance(value, numpy.ndarray):  # a subclass: its plain array
            _put_array(numpy.asarray(value).view(numpy.ndarray), out, arrays)
            return
        if isinstance(value, numpy.generic):
            array = numpy.asarray(value)
            if array.dtype.kind not in _ARRAY_KINDS:
                raise ChannelError(f"cannot send numpy scalar of dtype {array.dtype}")
            dtype = array.dtype.str.encode()
            out += b"S" + bytes((len(dtype),)) + dtype
            out += array.tobytes()
            return
    plain: object
    if isinstance(value, bool):
        plain = bool(value)
    elif isinstance(value, str):
        plain = str.__str__(value)
    elif isinstance(value, int):
        plain = int(value)
    elif isinstance(value, float):
        plain = float(value)
    elif isinstance(value, complex):
        out += _TAG_C128(b"c", value.real, value.imag)
        return
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        out += _TAG_U32(b"b", len(data))
        out += data
        return
    elif isinstance(value, Mapping):
        plain = dict(value)
    elif isinstance(value, tuple):
        plain = tuple(value)
    elif isinstance(value, list):
        plain = list(value)
    else:
        raise ChannelError(f"cannot send a value of type {type(value).__name__}")
    _put(plain, out, arrays, depth)


_ARRAY_HEADS: dict[Any, bytes] = {}
"""An array's tag and dtype text, by dtype (only the dtypes that may travel)."""
_ONE_DIMENSION = struct.Struct("<BQ").pack
_TWO_DIMENSIONS = struct.Struct("<BQQ").pack


def _put_array(array: Any, out: bytearray, arrays: list[bytes]) -> None:
    dtype = array.dtype
    head = _ARRAY_HEADS.get(dtype)
    if head is None:
        if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None:
            raise ChannelError(f"cannot send an array of dtype {dtype}")
        text = dtype.str.encode()
        head = b"a" + bytes((len(text),)) + text
        if len(_ARRAY_HEADS) < 64:
            _ARRAY_HEADS[dtype] = head
    shape = array.shape
    out += head
    if len(shape) == 1:
        out += _ONE_DIMENSION(1, shape[0])
    elif len(shape) == 2:
        out += _TWO_DIMENSIONS(2, shape[0], shape[1])
    else:
        out += bytes((len(shape),))
        if shape:
            out += struct.pack(f"<{len(shape)}Q", *shape)
    arrays.append(array.tobytes())


class _Body:
    """One body being read: the stream, where the next array's bytes start, numpy."""

    __slots__ = ("arrays", "data", "end", "next_array", "numpy")

    def __init__(self, data: bytearray | bytes) -> None:
        self.data = data
        self.numpy: Any = None
        if len(data) < 4:
            raise ChannelError("malformed message: shorter than its stream length")
        (length,) = _U32.unpack_from(data, 0)
        self.end = 4 + length
        if self.end > len(data):
            raise ChannelError("malformed message: its value runs past its end")
        self.next_array = self.end + (-self.end % 8)
        self.arrays = 0


_U32_AT = _U32.unpack_from
_I64_AT = struct.Struct("<q").unpack_from
_F64_AT = struct.Struct("<d").unpack_from
_C128_AT = struct.Struct("<dd").unpack_from


def decode(data: bytearray | bytes, depth: int = 0) -> object:
    """The value a body carries; :class:`ChannelError` for anything malformed.

    Nothing is executed: arrays must have a plain numeric or boolean dtype whose itemsize
    times shape fits the body, strings must be UTF-8, nesting is bounded, and every byte of
    the body must belong to the value. ``depth``: how deep the value counts as nested.
    """
    body = _Body(data)
    try:
        value, position = _get(body, 4, depth)
    except ChannelError:
        raise
    except RecursionError:
        raise ChannelError("message nested too deeply") from None
    except (struct.error, IndexError):
        raise ChannelError("malformed message: its value runs past its end") from None
    except UnicodeDecodeError:
        raise ChannelError("malformed message: a string is not UTF-8") from None
    except (ValueError, TypeError, OverflowError, MemoryError) as exc:
        # what numpy or int() refuse in a crafted value: malformed, never a result
        raise ChannelError(f"malformed value in message: {type(exc).__name__}") from None
    if position != body.end:
        raise ChannelError("malformed message: bytes left after its value")
    if len(data) != (body.next_array if body.arrays else body.end):
        raise ChannelError("malformed message: bytes left after its value")
    return value


def _get(body: _Body, at: int, depth: int) -> tuple[object, int]:
    """The value whose tag is at ``at`` in the body's stream, and where the next starts."""
    if depth > MAX_DEPTH:
        raise ChannelError(f"message nested deeper than {MAX_DEPTH} levels")
    data = body.data
    if at >= body.end:
        raise ChannelError("malformed message: its value runs past its end")
    tag = data[at]
    if tag == 0x66:  # f
        return _F64_AT(data, at + 1)[0], at + 9
    if tag == 0x69:  # i
        return _I64_AT(data, at + 1)[0], at + 9
    if tag == 0x73:  # s
        end = at + 5 + _U32_AT(data, at + 1)[0]
        if end > body.end:
            raise ChannelError("malformed message: its value runs past its end")
        return str(data[at + 5 : end], "utf-8", "surrogatepass"), end
    if tag == 0x61:  # a
        return _get_array(body, at)
    if tag == 0x6C or tag == 0x74:  # l, t
        count = _U32_AT(data, at + 1)[0]
        if count > body.end - at:  # each item takes a byte at least
            raise ChannelError("malformed message: its value runs past its end")
        at += 5
        depth += 1
        items: list[object] = []
        append = items.append
        end = body.end
        for _ in range(count):
            if at + 9 <= end and depth <= MAX_DEPTH:  # floats and ints: inline
                kind = data[at]
                if kind == 0x66:
                    append(_F64_AT(data, at + 1)[0])
                    at += 9
                    continue
                if kind == 0x69:
                    append(_I64_AT(data, at + 1)[0])
                    at += 9
                    continue
                if kind == 0x61:
                    item, at = _get_array(body, at)
                    append(item)
                    continue
            item, at = _get(body, at, depth)
            append(item)
        return (items if tag == 0x6C else tuple(items)), at
    if tag == 0x64:  # d
        count = _U32_AT(data, at + 1)[0]
        if count > body.end - at:
            raise ChannelError("malformed message: its value runs past its end")
        at += 5
        depth += 1
        result: dict[object, object] = {}
        end = body.end
        for _ in range(count):
            if at + 5 <= end and data[at] == 0x73 and depth <= MAX_DEPTH:  # a str key: inline
                stop = at + 5 + _U32_AT(data, at + 1)[0]
                if stop > end:
                    raise ChannelError("malformed message: its value runs past its end")
                key: object = str(data[at + 5 : stop], "utf-8", "surrogatepass")
                at = stop
            else:
                key, at = _get(body, at, depth)
            if at + 5 <= end and data[at] == 0x73 and depth <= MAX_DEPTH:  # a str: inline
                stop = at + 5 + _U32_AT(data, at + 1)[0]
                if stop > end:
                    raise ChannelError("malformed message: its value runs past its end")
                item = str(data[at + 5 : stop], "utf-8", "surrogatepass")
                at = stop
            elif at < end and data[at] == 0x61 and depth <= MAX_DEPTH:  # an array
                item, at = _get_array(body, at)
            else:
                item, at = _get(body, at, depth)
            try:
                result[key] = item
            except TypeError as exc:
                raise ChannelError(f"unhashable dict key in message: {exc}") from None
        return result, at
    if tag == 0x4E:  # N
        return None, at + 1
    if tag == 0x54:  # T
        return True, at + 1
    if tag == 0x46:  # F
        return False, at + 1
    if tag == 0x63:  # c
        real, imag = _C128_AT(data, at + 1)
        return complex(real, imag), at + 17
    if tag == 0x49 or tag == 0x62:  # I, b
        end = at + 5 + _U32_AT(data, at + 1)[0]
        if end > body.end:
            raise ChannelError("malformed message: its value runs past its end")
        raw = bytes(data[at + 5 : end])
        if tag == 0x62:
            return raw, end
        if not raw or not raw.lstrip(b"-").isdigit():
            raise ChannelError("malformed integer in message")
        return int(raw), end
    if tag == 0x53:  # S
        dtype, at = _get_dtype(body, at + 1)
        end = at + dtype.itemsize
        if end > body.end:
            raise ChannelError("malformed numpy scalar in message")
        return body.numpy.frombuffer(data[at:end], dtype=dtype)[0], end
    raise ChannelError("malformed value in message")


_DTYPES: dict[bytes, Any] = {}


def _get_dtype(body: _Body, at: int) -> tuple[Any, int]:
    """The dtype named at ``at`` (u8 length, text), refused unless plain numbers or
    booleans (cached), and where the stream goes on."""
    if body.numpy is None:
        import numpy

        body.numpy = numpy
    data = body.data
    end = at + 1 + data[at]
    if end > body.end:
        raise ChannelError("malformed message: its value runs past its end")
    text = bytes(data[at + 1 : end])
    known = _DTYPES.get(text)
    if known is not None:
        return known, end
    if not 0 < len(text) <= 8:
        raise ChannelError("malformed array dtype in message")
    try:
        dtype = body.numpy.dtype(text.decode("ascii"))
    except Exception:  # whatever numpy makes of a crafted name: not a dtype we know
        raise ChannelError(f"unknown array dtype {text!r}") from None
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.hasobject:
        raise ChannelError(f"refused array dtype {text!r}")
    if len(_DTYPES) < 256:
        _DTYPES[text] = dtype
    return dtype, end


_U64_AT = struct.Struct("<Q").unpack_from
_TWO_U64_AT = struct.Struct("<QQ").unpack_from


def _get_array(body: _Body, at: int) -> tuple[object, int]:
    dtype, at = _get_dtype(body, at + 1)
    data = body.data
    if at >= body.end:
        raise ChannelError("malformed message: its value runs past its end")
    ndim = data[at]
    if ndim > MAX_DEPTH:
        raise ChannelError("malformed array shape in message")
    end = at + 1 + 8 * ndim
    if end > body.end:
        raise ChannelError("malformed message: its value runs past its end")
    if ndim == 1:
        count = _U64_AT(data, at + 1)[0]
        shape: tuple[int, ...] = (count,)
    elif ndim == 2:
        shape = _TWO_U64_AT(data, at + 1)
        count = shape[0] * shape[1]
    else:
        shape = struct.unpack_from(f"<{ndim}Q", data, at + 1)
        count = 1
        for n in shape:
            count *= n
    size = count * dtype.itemsize
    start = body.next_array
    if start + size > len(data):
        raise ChannelError("array shape and dtype do not match its bytes")
    body.next_array = start + size + (-size % 8)
    body.arrays += 1
    # a view of this message's own, writable body: no other message shares it
    array = body.numpy.frombuffer(data, dtype, count, start)
    return (array if ndim == 1 else array.reshape(shape)), end


# -- frames ---------------------------------------------------------------------------


def write_frame(fd: int, message: Mapping[str, object], deadline: float | None = None) -> None:
    """Encode ``message`` (a mapping of plain values) and write it whole to ``fd``.

    A frame is a 4-byte big-endian body length and the body (see :func:`encode`). With a
    ``deadline`` (``fd`` must then be non-blocking) a reader that stops reading raises
    ``TimeoutError`` instead of holding the writer.
    """
    # the message's values count as the outermost values, as an argument's would
    frame = _encode(message if type(message) is dict else dict(message), 4, -1)
    _LENGTH.pack_into(frame, 0, len(frame) - 4)
    _write_frame(fd, frame, deadline)


def _write_frame(fd: int, body: bytearray, deadline: float | None) -> None:
    """Write a whole frame to ``fd`` (see :func:`write_frame`)."""
    try:
        written = os.write(fd, body)  # a small frame mostly goes whole at once
    except BlockingIOError:
        written = 0
    if written < len(body):
        _write_rest(fd, memoryview(body)[written:], deadline)


def _write_rest(fd: int, view: memoryview, deadline: float | None) -> None:
    while view:
        if deadline is None:
            view = view[os.write(fd, view) :]
            continue
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError from None
            _, ready, _ = select.select([], [fd], [], remaining)
            if not ready:
                raise TimeoutError from None


class FrameReader:
    """Reads frames from a pipe, with a byte limit per frame and an optional deadline."""

    def __init__(
        self, fd: int, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, spin_s: float = 0.0
    ) -> None:
        """``spin_s`` > 0: before blocking on a read, poll the pipe for that long, giving
        the processor to anything else runnable between polls (for a writer on another
        processor that answers quickly: waking a blocked reader costs more there). The
        descriptor is then made non-blocking."""
        self.fd = fd
        self.max_bytes = max_bytes
        self.spin_s = spin_s
        self._pending = bytearray()
        self._poll: Any = None
        if spin_s > 0:
            os.set_blocking(fd, False)

    def _fill(self, size: int, deadline: float | None) -> None:
        """Read until ``size`` bytes are pending."""
        pending = self._pending
        while len(pending) < size:
            missing = size - len(pending)
            want = max(1 << 16, min(missing, 1 << 24))
            if self.spin_s > 0:
                chunk = self._spin_read(want, deadline)
            else:
                if deadline is not None:
                    self._wait(deadline)
                chunk = os.read(self.fd, want)
            if not chunk:
                raise EOFError
            pending += chunk

    def _spin_read(self, want: int, deadline: float | None) -> bytes:
        """Up to ``want`` bytes from the (non-blocking) pipe: polled for ``spin_s``, then
        waited for (until ``deadline``, or for ever without one)."""
        give_up = time.monotonic() + self.spin_s
        while True:
            try:
                return os.read(self.fd, want)
            except BlockingIOError:
                pass
            if time.monotonic() >= give_up:
                break
            os.sched_yield()
        while True:
            self._wait(deadline)
            try:
                return os.read(self.fd, want)
            except BlockingIOError:
                continue

    def _wait(self, deadline: float | None) -> None:
        """Return once the pipe is readable (data or end of file); ``TimeoutError`` at the
        deadline (none: wait for ever)."""
        if self._poll is None:
            self._poll = select.poll()
            self._poll.register(self.fd, select.POLLIN)
        if deadline is None:
            self._poll.poll()
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if not self._poll.poll(math.ceil(remaining * 1000.0)):
            raise TimeoutError

    def read(self, deadline: float | None = None) -> dict[str, object]:
        """The next message as a dict of decoded values.

        Raises ``EOFError`` (the writer is gone), ``TimeoutError`` (the deadline passed) or
        :class:`ChannelError` (too big or malformed). A frame over the byte limit is
        refused before its body is read.
        """
        pending = self._pending
        if len(pending) < 4:
            self._fill(4, deadline)
        (size,) = _LENGTH.unpack_from(pending, 0)
        if size > self.max_bytes:
            raise ChannelError(f"message of {size} bytes is over the limit")
        if len(pending) < 4 + size:
            self._fill(4 + size, deadline)
        body = pending[4 : 4 + size]  # a fresh buffer: the message's arrays are views of it
        del pending[: 4 + size]
        message = decode(body, -1)
        if type(message) is not dict or not all(type(key) is str for key in message):
            raise ChannelError("message is not an object")
        return message


def read_frame(fd: int, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> dict[str, object]:
    """One message from ``fd`` without a deadline (the candidate side's reads)."""
    return FrameReader(fd, max_bytes).read()


def error_record(exc: BaseException) -> dict[str, str]:
    """Type, message and traceback tail of an exception, as plain strings."""
    try:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except BaseException:
        text = "(traceback unavailable)"
    try:
        message = str(exc)
    except BaseException:
        message = f"<unprintable {type(exc).__name__}>"
    return {
        "type": type(exc).__name__,
        "message": message[:TRACEBACK_TAIL_CHARS],
        "traceback_tail": text[-TRACEBACK_TAIL_CHARS:],
    }


# -- the evaluator's end ----------------------------------------------------------------


class EvaluatorEnd:
    """The candidate as the evaluator sees it: its functions, called through the channel.

    ``candidate.priority(item, bins)`` calls the candidate's ``priority``;
    ``candidate.call(name, *args, **kwargs)`` does the same by name;
    ``candidate.batch(name, [args, ...])`` makes many independent calls in one round trip
    and returns their results in order (the first exception raises). Arguments and
    results travel by value (see the module docstring for what can travel).
    ``candidate.functions`` names the functions the candidate defines. Each call must be
    answered within ``call_timeout_s``. ``spin_s``: how the answers are waited for (see
    :class:`FrameReader`). The channel carries one call at a time: calls made from several
    threads of the evaluator (a thread pool over instances) wait for each other, so each
    thread gets its own call's answer.
    """

    def __init__(
        self,
        request_fd: int,
        reply_fd: int,
        call_timeout_s: float,
        max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        spin_s: float = 0.0,
    ) -> None:
        self._request_fd = request_fd
        os.set_blocking(request_fd, False)  # so that sending a call has a deadline too
        self._reader = FrameReader(reply_fd, max_bytes, spin_s)
        self._timeout = call_timeout_s
        self._functions: tuple[str, ...] | None = None
        self.broken: str | None = None
        self.calls = 0
        self._in_flight = threading.Lock()  # one request and its answer at a time

    @property
    def functions(self) -> tuple[str, ...]:
        with self._in_flight:
            return self._hello()

    def _hello(self) -> tuple[str, ...]:
        """The candidate's function names, read from its first message on first use (the
        caller holds ``_in_flight``)."""
        if self._functions is None:
            hello = self._receive("the candidate did not start")
            if "load_error" in hello:
                error = hello["load_error"]
                if not isinstance(error, dict):
                    raise self._break("the candidate sent a malformed hello")
                raise CandidateError(
                    str(error.get("type", "Exception")),
                    f"loading the candidate failed: {error.get('message', '')}",
                    str(error.get("traceback_tail", "")),
                )
            names = hello.get("functions")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise self._break("the candidate sent a malformed hello")
            self._functions = tuple(names)
        return self._functions

    def __getattr__(self, name: str) -> Callable[..., object]:
        if name.startswith("_"):
            raise AttributeError(name)
        request = self._request

        def call(*args: object, **kwargs: object) -> object:
            if kwargs:
                return request({"op": "call", "name": name, "args": args, "kwargs": kwargs})
            return request(None, name, args)

        call.__name__ = name
        self.__dict__[name] = call  # made once per name: later look-ups find it directly
        return call

    def call(self, name: str, *args: object, **kwargs: object) -> object:
        """Call the candidate's function ``name`` and return its result."""
        if kwargs:
            return self._request({"op": "call", "name": name, "args": args, "kwargs": kwargs})
        return self._request(None, name, args)

    def batch(self, name: str, calls: Sequence[Sequence[object]]) -> list[object]:
        """``[candidate.name(*args) for args in calls]`` in one round trip."""
        result = self._request({"op": "batch", "name": name, "calls": [tuple(c) for c in calls]})
        if not isinstance(result, list) or len(result) != len(calls):
            raise self._break("the candidate answered a batch with the wrong number of results")
        return result

    def _request(
        self,
        message: Mapping[str, object] | None,
        name: str = "",
        args: tuple[object, ...] = (),
    ) -> object:
        """Send ``message`` (or, when it is None, the call ``name(*args)``) and return the
        answer's result."""
        with self._in_flight:
            return self._round_trip(message, name, args)

    def _round_trip(
        self, message: Mapping[str, object] | None, name: str, args: tuple[object, ...]
    ) -> object:
        """:meth:`_request`'s work, with ``_in_flight`` held."""
        if self.broken is not None:
            raise ChannelBroken(self.broken)
        if self._functions is None:
            self._hello()  # the hello comes first (and may carry a load error)
        self.calls += 1
        if message is None:
            frame = call_frame(name, args)
        else:
            frame = _encode(message if type(message) is dict else dict(message), 4, -1)
            _LENGTH.pack_into(frame, 0, len(frame) - 4)
            name = str(message.get("name"))
        deadline = time.monotonic() + self._timeout
        try:
            _write_frame(self._request_fd, frame, deadline)
        except ChannelError:
            raise
        except TimeoutError:
            limit = f"{self._timeout:g}s"
            raise self._break(
                f"the candidate did not take the call {name!r} within the call "
                f"time limit of {limit}"
            ) from None
        except OSError:
            raise self._break("the candidate process ended before the call") from None
        try:
            answer = self._reader.read(time.monotonic() + self._timeout)
        except (TimeoutError, EOFError, ChannelError, OSError) as exc:
            raise self._broken_by(exc, f"no answer to {name!r}") from None
        if "error" in answer:
            error = answer["error"]
            if not isinstance(error, dict):
                raise self._break("the candidate sent a malformed error")
            raise CandidateError(
                str(error.get("type", "Exception")),
                str(error.get("message", "")),
                str(error.get("traceback_tail", "")),
            )
        if "ok" not in answer:
            raise self._break("the candidate sent a malformed answer")
        return answer["ok"]

    def close(self) -> None:
        """Close both pipes: the candidate side reads end-of-file and leaves. Later calls
        raise :class:`ChannelBroken`."""
        for fd in (self._request_fd, self._reader.fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.broken is None:
            self.broken = "the evaluator side closed the channel"

    def _receive(self, what: str) -> dict[str, object]:
        if self.broken is not None:
            raise ChannelBroken(self.broken)
        try:
            return self._reader.read(time.monotonic() + self._timeout)
        except (TimeoutError, EOFError, ChannelError, OSError) as exc:
            raise self._broken_by(exc, what) from None

    def _broken_by(self, exc: BaseException, what: str) -> ChannelBroken:
        """The break that a failed read of an answer (``what``) means."""
        if isinstance(exc, TimeoutError):
            return self._break(f"{what} within the call time limit of {self._timeout:g}s")
        if isinstance(exc, EOFError):
            return self._break(f"{what}: the candidate process ended")
        if isinstance(exc, ChannelError):
            return self._break(f"the candidate sent a bad message: {exc}")
        return self._break(f"{what}: {exc}")

    def _break(self, reason: str) -> ChannelBroken:
        self.broken = reason
        return ChannelBroken(reason)
