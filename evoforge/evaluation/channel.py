"""The narrow channel between an evaluator and the candidate it scores: plain values only.

The evaluator side and the candidate side of an evaluation are two processes that share
nothing but two pipes. This module is both ends of them. It is a standalone module (the
standard library, and numpy only when a message holds arrays), because each side runs it
inside the sandbox with whatever interpreter the user configured, without evoforge.

**Format.** A message is a frame: a 4-byte big-endian length, a UTF-8 JSON header, then the
raw bytes of any arrays, whose lengths the header lists. Values are JSON scalars (``None``,
``bool``, ``int``, ``float`` with NaN and infinities, ``str``), lists, and tagged objects:
``{"T": [...]}`` a tuple, ``{"D": [[key, value], ...]}`` a dict, ``{"C": [re, im]}`` a
complex number, ``{"B": i}`` bytes, ``{"A": i, "dtype": "<f8", "shape": [n]}`` a numpy
array and ``{"S": i, "dtype": "<i8"}`` a numpy scalar (``i`` indexes the raw buffers).
Reading a message never executes anything: arrays must have a plain numeric or boolean
dtype (no objects, no records) whose size times shape equals their buffer exactly; nesting
is bounded; a frame over the size limit is refused before it is read. Nothing is pickled.

**Protocol.** The candidate side sends one *hello* (the functions its program defines, or
why it could not be loaded), then answers each request in order: ``call`` (one call) or
``batch`` (many independent calls of one function, one round trip). The evaluator side
waits for each answer with a per-call time limit. A candidate's exception comes back as
:class:`CandidateError` (type, message, traceback tail). A dead, hanging or garbled
candidate raises :class:`ChannelBroken` and marks the channel broken for good: the
evaluation then fails with that reason, whatever the evaluator does with the exception.
"""

from __future__ import annotations

import json
import math
import os
import select
import struct
import sys
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


_PLAIN = frozenset({float, int, str, bool, type(None)})
"""Types that are their own JSON form (exact types only: subclasses go the long way)."""
_ndarray: Any = None
"""``numpy.ndarray`` once numpy is loaded (the commonest tagged value, checked first)."""


def encode(value: object, buffers: list[bytes], depth: int = 0) -> object:
    """The JSON-able form of ``value``; raw array bytes are appended to ``buffers``."""
    if depth > MAX_DEPTH:
        raise ChannelError(f"value nested deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is _ndarray:
        return _encode_array(value, buffers)
    if kind is list:
        depth += 1
        return [
            item if type(item) in _PLAIN and depth <= MAX_DEPTH else encode(item, buffers, depth)
            for item in value  # type: ignore[attr-defined]
        ]
    if kind is tuple:
        depth += 1
        return {
            "T": [
                item
                if type(item) in _PLAIN and depth <= MAX_DEPTH
                else encode(item, buffers, depth)
                for item in value  # type: ignore[attr-defined]
            ]
        }
    if kind is dict:
        return {
            "D": [
                [encode(key, buffers, depth + 1), encode(item, buffers, depth + 1)]
                for key, item in value.items()  # type: ignore[attr-defined]
            ]
        }
    return _encode_other(value, buffers, depth)


def _encode_other(value: object, buffers: list[bytes], depth: int) -> object:
    """:func:`encode` for everything but exact plain types, lists, tuples, dicts, arrays."""
    global _ndarray
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        _ndarray = numpy.ndarray
        if isinstance(value, numpy.ndarray):  # a subclass: its plain array's bytes
            return _encode_array(value, buffers, numpy.ascontiguousarray(value).tobytes)
        if isinstance(value, numpy.generic):
            array = numpy.asarray(value)
            if array.dtype.kind not in _ARRAY_KINDS:
                raise ChannelError(f"cannot send numpy scalar of dtype {array.dtype}")
            buffers.append(array.tobytes())
            return {"S": len(buffers) - 1, "dtype": array.dtype.str}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, complex):
        return {"C": [value.real, value.imag]}
    if isinstance(value, bytes | bytearray | memoryview):
        buffers.append(bytes(value))
        return {"B": len(buffers) - 1}
    if isinstance(value, Mapping):
        return encode(dict(value), buffers, depth)
    if isinstance(value, tuple):
        return encode(tuple(value), buffers, depth)
    if isinstance(value, list):
        return encode(list(value), buffers, depth)
    raise ChannelError(f"cannot send a value of type {type(value).__name__}")


def _encode_array(
    array: Any, buffers: list[bytes], raw: Callable[[], bytes] | None = None
) -> dict[str, object]:
    """An array's tagged form; its bytes (C order) go to ``buffers``, from ``raw`` if given."""
    dtype = array.dtype
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None:
        raise ChannelError(f"cannot send an array of dtype {dtype}")
    buffers.append(array.tobytes() if raw is None else raw())
    return {"A": len(buffers) - 1, "dtype": dtype.str, "shape": list(array.shape)}


def decode(data: object, buffers: Sequence[bytes], depth: int = 0) -> object:
    """The value a header describes; :class:`ChannelError` for anything malformed."""
    if depth > MAX_DEPTH:
        raise ChannelError(f"message nested deeper than {MAX_DEPTH} levels")
    kind = type(data)
    if kind in _PLAIN:
        return data
    if kind is list:
        depth += 1
        return [
            item if type(item) in _PLAIN and depth <= MAX_DEPTH else decode(item, buffers, depth)
            for item in data  # type: ignore[attr-defined]
        ]
    if kind is not dict:
        raise ChannelError("malformed value in message")
    assert isinstance(data, dict)
    if "A" in data or "S" in data:  # arrays first: the commonest tagged value
        return _decode_array(data, buffers)
    if len(data) != 1:
        raise ChannelError("malformed value in message")
    tag, inner = next(iter(data.items()))
    if tag == "T" and type(inner) is list:
        depth += 1
        return tuple(
            [
                item
                if type(item) in _PLAIN and depth <= MAX_DEPTH
                else decode(item, buffers, depth)
                for item in inner
            ]
        )
    if tag == "D" and type(inner) is list:
        result: dict[object, object] = {}
        for pair in inner:
            if type(pair) is not list or len(pair) != 2:
                raise ChannelError("malformed dict in message")
            key = decode(pair[0], buffers, depth + 1)
            try:
                result[key] = decode(pair[1], buffers, depth + 1)
            except TypeError as exc:
                raise ChannelError(f"unhashable dict key in message: {exc}") from None
        return result
    if tag == "C":
        if not (type(inner) is list and len(inner) == 2):
            raise ChannelError("malformed complex number in message")
        if not all(type(p) is int or type(p) is float for p in inner):
            raise ChannelError("malformed complex number in message")
        return complex(inner[0], inner[1])
    if tag == "B":
        return bytes(_buffer(buffers, inner))
    raise ChannelError("malformed value in message")


def _buffer(buffers: Sequence[bytes], index: object) -> bytes:
    if type(index) is not int or not 0 <= index < len(buffers):
        raise ChannelError("message refers to a missing buffer")
    return buffers[index]


_DTYPES: dict[str, Any] = {}


def _dtype(numpy: Any, text: str) -> Any:
    """The numpy dtype named ``text``, refused unless plain numbers or booleans (cached)."""
    known = _DTYPES.get(text)
    if known is not None:
        return known
    try:
        dtype = numpy.dtype(text)
    except TypeError:
        raise ChannelError(f"unknown array dtype {text!r}") from None
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.hasobject:
        raise ChannelError(f"refused array dtype {text!r}")
    if len(_DTYPES) < 256:
        _DTYPES[text] = dtype
    return dtype


def _decode_array(data: dict[str, object], buffers: Sequence[bytes]) -> object:
    import numpy

    scalar = "S" in data
    raw = _buffer(buffers, data["S"] if scalar else data["A"])
    dtype_text = data.get("dtype")
    if not isinstance(dtype_text, str) or len(dtype_text) > 8:
        raise ChannelError("malformed array dtype in message")
    dtype = _dtype(numpy, dtype_text)
    if scalar:
        if len(data) != 2 or len(raw) != dtype.itemsize:
            raise ChannelError("malformed numpy scalar in message")
        return numpy.frombuffer(raw, dtype=dtype)[0]
    shape = data.get("shape")
    if len(data) != 3 or type(shape) is not list or len(shape) > MAX_DEPTH:
        raise ChannelError("malformed array shape in message")
    count = 1
    for n in shape:
        if type(n) is not int or n < 0:
            raise ChannelError("malformed array shape in message")
        count *= n
    if count * dtype.itemsize != len(raw):
        raise ChannelError("array shape and dtype do not match its bytes")
    # ``raw`` is a view of this message's own, writable buffer: no other message shares it
    return numpy.frombuffer(raw, dtype=dtype).reshape(shape)


# -- frames ---------------------------------------------------------------------------


_JSON = json.JSONEncoder(allow_nan=True, separators=(",", ":"))
_ZEROS = bytes(8)


def write_frame(fd: int, message: Mapping[str, object], deadline: float | None = None) -> None:
    """Encode ``message`` (a mapping of plain values) and write it whole to ``fd``.

    Each raw buffer is followed by zero bytes up to a multiple of 8, so that arrays start
    aligned in the reader's copy of the message. With a ``deadline`` (``fd`` must then be
    non-blocking) a reader that stops reading raises ``TimeoutError`` instead of holding
    the writer.
    """
    buffers: list[bytes] = []
    header = {key: encode(value, buffers) for key, value in message.items()}
    header["buffers"] = [len(b) for b in buffers]
    text = _JSON.encode(header).encode("utf-8")
    parts = [_LENGTH.pack(len(text)), text]
    total = 4 + len(text)
    for buffer in buffers:
        parts.append(buffer)
        total += len(buffer)
        if len(buffer) % 8:
            parts.append(_ZEROS[: -len(buffer) % 8])
            total += -len(buffer) % 8
    if total < (1 << 20):
        parts = [b"".join(parts)]
    for part in parts:
        try:
            written = os.write(fd, part)  # a small frame mostly goes whole at once
        except BlockingIOError:
            written = 0
        if written < len(part):
            _write_rest(fd, memoryview(part)[written:], deadline)


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

    def __init__(self, fd: int, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.fd = fd
        self.max_bytes = max_bytes
        self._pending = bytearray()
        self._start = 0
        self._poll: Any = None

    def _fill(self, size: int, deadline: float | None) -> None:
        """Read until ``size`` unread bytes are pending."""
        if self._start and (self._start > (1 << 20) or self._start == len(self._pending)):
            del self._pending[: self._start]
            self._start = 0
        pending = self._pending
        while len(pending) - self._start < size:
            if deadline is not None:
                self._wait(deadline)
            missing = size - (len(pending) - self._start)
            chunk = os.read(self.fd, max(1 << 16, min(missing, 1 << 24)))
            if not chunk:
                raise EOFError
            pending += chunk

    def _wait(self, deadline: float) -> None:
        """Return once the pipe is readable (data or end of file); ``TimeoutError`` at the
        deadline."""
        if self._poll is None:
            self._poll = select.poll()
            self._poll.register(self.fd, select.POLLIN)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if not self._poll.poll(math.ceil(remaining * 1000.0)):
            raise TimeoutError

    def read(self, deadline: float | None = None) -> dict[str, object]:
        """The next message as a dict of decoded values.

        Raises ``EOFError`` (the writer is gone), ``TimeoutError`` (the deadline passed) or
        :class:`ChannelError` (too big or malformed).
        """
        if len(self._pending) - self._start < 4:
            self._fill(4, deadline)
        (size,) = _LENGTH.unpack_from(self._pending, self._start)
        if size > self.max_bytes:
            raise ChannelError(f"message header of {size} bytes is over the limit")
        self._start += 4
        if len(self._pending) - self._start < size:
            self._fill(size, deadline)
        start = self._start
        raw_header = self._pending[start : start + size]
        self._start = start + size
        try:
            header = json.loads(raw_header.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ChannelError("message header is not valid JSON") from None
        if type(header) is not dict:
            raise ChannelError("message header is not an object")
        lengths = header.pop("buffers", [])
        if type(lengths) is not list or not all(type(n) is int and n >= 0 for n in lengths):
            raise ChannelError("malformed buffer list in message")
        buffers: list[memoryview] = []
        if lengths:
            padded = [n + (-n % 8) for n in lengths]
            body_size = sum(padded)
            if size + body_size > self.max_bytes:
                raise ChannelError(f"message of {size + body_size} bytes is over the limit")
            body = memoryview(self._take(body_size, deadline))
            offset = 0
            for length, step in zip(lengths, padded, strict=True):
                buffers.append(body[offset : offset + length])
                offset += step
        try:
            return {
                key: value if type(value) in _PLAIN else decode(value, buffers)  # type: ignore[arg-type]
                for key, value in header.items()
            }
        except ChannelError:
            raise
        except RecursionError:
            raise ChannelError("message nested too deeply") from None
        except (ValueError, TypeError, OverflowError, SyntaxError, MemoryError) as exc:
            # what numpy or complex() refuse in a crafted value: malformed, never a result
            raise ChannelError(f"malformed value in message: {type(exc).__name__}") from None

    def _take(self, size: int, deadline: float | None) -> bytearray:
        """The next ``size`` bytes, as a fresh buffer of their own."""
        if len(self._pending) - self._start < size:
            self._fill(size, deadline)
        taken = self._pending[self._start : self._start + size]
        self._start += size
        return taken


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
    answered within ``call_timeout_s``.
    """

    def __init__(
        self,
        request_fd: int,
        reply_fd: int,
        call_timeout_s: float,
        max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._request_fd = request_fd
        os.set_blocking(request_fd, False)  # so that sending a call has a deadline too
        self._reader = FrameReader(reply_fd, max_bytes)
        self._timeout = call_timeout_s
        self._functions: tuple[str, ...] | None = None
        self.broken: str | None = None
        self.calls = 0

    @property
    def functions(self) -> tuple[str, ...]:
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
            return request({"op": "call", "name": name, "args": args, "kwargs": kwargs})

        call.__name__ = name
        self.__dict__[name] = call  # made once per name: later look-ups find it directly
        return call

    def call(self, name: str, *args: object, **kwargs: object) -> object:
        """Call the candidate's function ``name`` and return its result."""
        return self._request({"op": "call", "name": name, "args": args, "kwargs": kwargs})

    def batch(self, name: str, calls: Sequence[Sequence[object]]) -> list[object]:
        """``[candidate.name(*args) for args in calls]`` in one round trip."""
        result = self._request({"op": "batch", "name": name, "calls": [tuple(c) for c in calls]})
        if not isinstance(result, list) or len(result) != len(calls):
            raise self._break("the candidate answered a batch with the wrong number of results")
        return result

    def _request(self, message: Mapping[str, object]) -> object:
        if self.broken is not None:
            raise ChannelBroken(self.broken)
        if self._functions is None:
            self.functions  # noqa: B018 - the hello comes first (and may carry a load error)
        self.calls += 1
        deadline = time.monotonic() + self._timeout
        try:
            write_frame(self._request_fd, message, deadline)
        except ChannelError:
            raise
        except TimeoutError:
            limit = f"{self._timeout:g}s"
            raise self._break(
                f"the candidate did not take the call {message.get('name')!r} within the call "
                f"time limit of {limit}"
            ) from None
        except OSError:
            raise self._break("the candidate process ended before the call") from None
        try:
            answer = self._reader.read(time.monotonic() + self._timeout)
        except (TimeoutError, EOFError, ChannelError, OSError) as exc:
            raise self._broken_by(exc, f"no answer to {message.get('name')!r}") from None
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
