"""The channel's codec and frames: every value that may travel round-trips exactly; every
malformed, oversized, too deep or executable thing is refused, on both ends, unexecuted."""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from evoforge.evaluation.channel import (
    MAX_DEPTH,
    ChannelError,
    FrameReader,
    decode,
    encode,
    read_frame,
    write_frame,
)


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    yield read_end, write_end
    for fd in (read_end, write_end):
        with contextlib.suppress(OSError):
            os.close(fd)


def _through_pipe(value: object) -> object:
    """``value`` written as a frame to a real pipe (by a writer thread) and read back."""
    read_end, write_end = os.pipe()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            write_frame(write_end, {"value": value})
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            os.close(write_end)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        message = FrameReader(read_end).read()
    finally:
        writer.join()
        os.close(read_end)
    assert not errors, errors
    assert set(message) == {"value"}
    return message["value"]


def _same(sent: Any, received: Any) -> None:
    """Equal, of the same type, recursively; arrays of the same dtype and shape."""
    if isinstance(sent, np.ndarray):
        assert isinstance(received, np.ndarray)
        assert received.dtype == sent.dtype and received.shape == sent.shape
        assert np.array_equal(received, sent, equal_nan=sent.dtype.kind in "fc")
        return
    if isinstance(sent, bytearray | memoryview):
        assert type(received) is bytes and received == bytes(sent)
        return
    assert type(received) is type(sent), (sent, received)
    if isinstance(sent, list | tuple):
        assert len(received) == len(sent)
        for a, b in zip(sent, received, strict=True):
            _same(a, b)
    elif isinstance(sent, dict):
        assert list(received) == list(sent)
        for key in sent:
            _same(sent[key], received[key])
    elif isinstance(sent, float | np.floating) and math.isnan(sent):
        assert math.isnan(received)
    elif isinstance(sent, complex):
        _same(sent.real, received.real)
        _same(sent.imag, received.imag)
    else:
        assert received == sent


SCALARS = [
    None,
    True,
    False,
    0,
    -7,
    2**80,
    1.5,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    "",
    "text with ünïcödé and \x00",
    b"",
    b"\x00\xff raw",
    complex(1.5, -2.0),
    complex(math.inf, math.nan),
]

NUMPY_DTYPES = [
    "?",
    "i1",
    "i2",
    "i4",
    "i8",
    "u1",
    "u2",
    "u4",
    "u8",
    "f2",
    "f4",
    "f8",
    "c8",
    "c16",
    ">f8",
    ">i4",
]


@pytest.mark.parametrize("value", SCALARS, ids=[repr(v)[:30] for v in SCALARS])
def test_scalars_round_trip(value: object) -> None:
    _same(value, _through_pipe(value))


@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3), (2, 0, 4), (1, 1, 1, 2)])
def test_arrays_keep_dtype_and_shape(dtype: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    array = (rng.random(shape) * 100).astype(dtype)
    _same(array, _through_pipe(array))


def test_non_contiguous_and_fortran_arrays_arrive_as_equal_arrays() -> None:
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    for array in (base[:, ::2], base.T, np.asfortranarray(base), base[::-1]):
        _same(np.array(array), _through_pipe(array))


def test_a_large_array_crosses_a_pipe_whole() -> None:
    array = np.arange(3_000_000, dtype=np.float64)  # 24 MB, far above the pipe's buffer
    _same(array, _through_pipe(array))


def test_received_arrays_are_writable_copies() -> None:
    received = _through_pipe(np.zeros(4))
    assert isinstance(received, np.ndarray)
    received[0] = 1.0  # the receiver owns its copy


@pytest.mark.parametrize(
    "value",
    [
        np.float64(1.25),
        np.float32(-2.5),
        np.int32(7),
        np.uint8(255),
        np.bool_(True),
        np.complex128(1 - 2j),
        np.float16(0.5),
        np.int64(-(2**62)),
    ],
    ids=repr,
)
def test_numpy_scalars_keep_their_type(value: Any) -> None:
    received = _through_pipe(value)
    assert type(received) is type(value)
    assert received == value


def test_containers_round_trip() -> None:
    value = {
        "list": [1, 2.5, "x", None, [True, [False]]],
        "tuple": (1, (2, (3,)), []),
        "empty": ((), [], {}),
        1: "an int key",
        2.5: "a float key",
        (1, "two"): "a tuple key",
        None: "a None key",
        "bool keys": {True: "t", False: "f"},
        b"raw": "a bytes key",
        "arrays": [np.arange(3), (np.eye(2, dtype=np.float32),)],
        "nested": {"deeper": {(0, 0): np.int16(3)}},
    }
    _same(value, _through_pipe(value))


def test_subclasses_and_mappings_travel_as_their_plain_types() -> None:
    class Number(float):
        pass

    class Text(str):
        pass

    from collections import OrderedDict, namedtuple

    Point = namedtuple("Point", "x y")
    sent = [Number(1.5), Text("t"), OrderedDict(a=1), Point(1, 2), bytearray(b"ab")]
    received = _through_pipe(sent)
    assert received == [1.5, "t", {"a": 1}, (1, 2), b"ab"]
    assert [type(v) for v in received] == [float, str, dict, tuple, bytes]


# -- refused on encode -------------------------------------------------------------------------


def _nested_list(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


def _nested_dict(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = {"k": value}
    return value


def _nested_tuple(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = (value,)
    return value


class Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("must never run",))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.array([object()], dtype=object), "dtype object"),
        (np.zeros(2, dtype=[("a", "f8"), ("b", "i4")]), "cannot send an array of dtype"),
        (np.array(["text"]), "cannot send an array of dtype <U4"),
        (np.array(["2020-01-01"], dtype="M8[D]"), "cannot send an array of dtype"),
        (np.zeros(1, dtype="V8"), "cannot send an array of dtype"),
        (np.str_("text"), "cannot send numpy scalar of dtype <U4"),
        (np.datetime64("2020-01-01"), "cannot send numpy scalar"),
        (Payload(), "cannot send a value of type Payload"),
        ({1, 2}, "cannot send a value of type set"),
        (lambda: 0, "cannot send a value of type function"),
        ((i for i in range(2)), "cannot send a value of type generator"),
        (_nested_list(10_000), f"nested deeper than {MAX_DEPTH} levels"),
        (_nested_dict(MAX_DEPTH + 2), f"nested deeper than {MAX_DEPTH} levels"),
        (_nested_tuple(MAX_DEPTH + 2), f"nested deeper than {MAX_DEPTH} levels"),
        ([np.array([object()], dtype=object)], "dtype object"),
    ],
    ids=[
        "object_array",
        "structured_array",
        "text_array",
        "datetime_array",
        "void_array",
        "numpy_str",
        "numpy_datetime",
        "reducible_object",
        "set",
        "function",
        "generator",
        "nested_list",
        "nested_dict",
        "nested_tuple",
        "object_array_in_a_list",
    ],
)
def test_encode_refuses(value: object, message: str, pipe: tuple[int, int]) -> None:
    with pytest.raises(ChannelError, match=message):
        encode(value, [])
    with pytest.raises(ChannelError):
        write_frame(pipe[1], {"value": value})
    os.close(pipe[1])
    with pytest.raises(EOFError):  # nothing at all was written for the refused message
        FrameReader(pipe[0]).read()


def test_nesting_up_to_the_limit_travels() -> None:
    value = _nested_list(MAX_DEPTH)
    assert _through_pipe(value) == value


# -- refused on decode -------------------------------------------------------------------------

F8 = np.zeros(2).tobytes()


@pytest.mark.parametrize(
    ("data", "buffers", "message"),
    [
        ({"A": 0, "dtype": "|O", "shape": [2]}, [F8], "refused array dtype"),
        ({"A": 0, "dtype": "V16", "shape": [1]}, [F8], "refused array dtype"),
        ({"A": 0, "dtype": "<U2", "shape": [2]}, [F8], "refused array dtype"),
        ({"A": 0, "dtype": "<M8[s]", "shape": [2]}, [F8], "refused array dtype"),
        ({"A": 0, "dtype": "no such", "shape": [2]}, [F8], "unknown array dtype"),
        ({"A": 0, "dtype": "[('a','<f8')]", "shape": [2]}, [F8], "malformed array dtype"),
        ({"A": 0, "dtype": 8, "shape": [2]}, [F8], "malformed array dtype"),
        ({"A": 0, "dtype": "<f8", "shape": [3]}, [F8], "do not match its bytes"),
        ({"A": 0, "dtype": "<f4", "shape": [2]}, [F8], "do not match its bytes"),
        ({"A": 0, "dtype": "<f8", "shape": [-2]}, [F8], "malformed array shape"),
        ({"A": 0, "dtype": "<f8", "shape": [2.0]}, [F8], "malformed array shape"),
        ({"A": 0, "dtype": "<f8", "shape": "2"}, [F8], "malformed array shape"),
        ({"A": 0, "dtype": "<f8", "shape": [1] * 40}, [F8], "malformed array shape"),
        ({"A": 0, "dtype": "<f8"}, [F8], "malformed array shape"),
        ({"A": 1, "dtype": "<f8", "shape": [2]}, [F8], "missing buffer"),
        ({"A": "0", "dtype": "<f8", "shape": [2]}, [F8], "missing buffer"),
        ({"S": 0, "dtype": "<f8"}, [F8], "malformed numpy scalar"),
        ({"S": 0, "dtype": "|O"}, [F8[:8]], "refused array dtype"),
        ({"B": 3}, [F8], "missing buffer"),
        ({"B": -1}, [F8], "missing buffer"),
        ({"B": True}, [F8], "missing buffer"),
        ({"X": 1}, [], "malformed value"),
        ({"T": "not a list"}, [], "malformed value"),
        ({"T": [], "D": []}, [], "malformed value"),
        ({}, [], "malformed value"),
        ({"D": [[1]]}, [], "malformed dict"),
        ({"D": [1, 2]}, [], "malformed dict"),
        ({"D": [[[1, 2], 3]]}, [], "unhashable dict key"),
        ({"C": [1]}, [], "malformed complex"),
        ({"C": ["1", "2"]}, [], "malformed complex"),
        ({"C": [True, 1]}, [], "malformed complex"),
        ({"C": 5}, [], "malformed complex"),
        (_nested_list(MAX_DEPTH + 2), [], f"nested deeper than {MAX_DEPTH} levels"),
        ({"T": [_nested_list(MAX_DEPTH + 2)]}, [], f"nested deeper than {MAX_DEPTH} levels"),
    ],
)
def test_decode_refuses(data: object, buffers: list[bytes], message: str) -> None:
    with pytest.raises(ChannelError, match=message):
        decode(data, buffers)


def _frame(header: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I", len(header)) + header + body


def _read_raw(raw: bytes, max_bytes: int = 1 << 20) -> dict[str, object]:
    """Read one frame from a pipe that a writer thread fills with ``raw``, then closes."""
    read_end, write_end = os.pipe()

    def write() -> None:
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(write_end, view) :]
        except OSError:
            pass  # the reader refused the frame and left
        finally:
            os.close(write_end)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        return FrameReader(read_end, max_bytes).read(time.monotonic() + 5)
    finally:
        os.close(read_end)
        writer.join()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_frame(b"\xff\xfe not utf-8"), "not valid JSON"),
        (_frame(b"{not json"), "not valid JSON"),
        (_frame(b"[1, 2]"), "not an object"),
        (_frame(b"[" * 100_000 + b"]" * 100_000), "not valid JSON"),
        (_frame(json.dumps({"v": _nested_list(200)}).encode()), "nested deeper"),
        (_frame(b'{"v": 1, "buffers": [-1]}'), "malformed buffer list"),
        (_frame(b'{"v": 1, "buffers": ["8"]}'), "malformed buffer list"),
        (_frame(b'{"v": 1, "buffers": 8}'), "malformed buffer list"),
        (_frame(b'{"v": {"A": 0, "dtype": "|O", "shape": [1]}, "buffers": [8]}', F8[:8]), "dtype"),
    ],
    ids=[
        "not_utf8",
        "not_json",
        "not_an_object",
        "json_too_deep_to_parse",
        "value_too_deep",
        "negative_buffer",
        "text_buffer_length",
        "buffers_not_a_list",
        "object_array",
    ],
)
def test_frame_reader_refuses_malformed_frames(raw: bytes, message: str) -> None:
    with pytest.raises(ChannelError, match=message):
        _read_raw(raw)


def test_an_oversized_header_is_refused_before_it_is_read(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.write(write_end, struct.pack(">I", 10_000_000))  # and nothing after it
    with pytest.raises(ChannelError, match="header of 10000000 bytes is over the limit"):
        FrameReader(read_end, max_bytes=1 << 20).read(time.monotonic() + 5)


def test_oversized_buffers_are_refused_before_they_are_read(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.write(write_end, _frame(b'{"v": {"B": 0}, "buffers": [1000000000]}'))
    with pytest.raises(ChannelError, match="over the limit"):
        FrameReader(read_end, max_bytes=1 << 20).read(time.monotonic() + 5)


def test_a_frame_at_the_limit_is_read_and_one_over_is_not() -> None:
    array = np.zeros(1000)
    read_end, write_end = os.pipe()
    try:
        write_frame(write_end, {"v": array})
        os.close(write_end)
        raw = os.read(read_end, 1 << 20)
    finally:
        os.close(read_end)
    _same(array, _read_raw(raw, max_bytes=len(raw) - 4)["v"])
    with pytest.raises(ChannelError, match="over the limit"):
        _read_raw(raw, max_bytes=len(raw) - 5)


def test_several_frames_in_a_row_are_read_in_order(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    for index in range(5):
        write_frame(write_end, {"i": index, "a": np.full(3, index, dtype=np.int8)})
    reader = FrameReader(read_end)
    for index in range(5):
        message = reader.read()
        assert message["i"] == index
        _same(np.full(3, index, dtype=np.int8), message["a"])


def test_read_frame_reads_one_message(pipe: tuple[int, int]) -> None:
    write_frame(pipe[1], {"op": "call", "args": (1, 2.5)})
    assert read_frame(pipe[0]) == {"op": "call", "args": (1, 2.5)}


# -- deadlines and ends ----------------------------------------------------------------------


def test_the_deadline_ends_a_wait_for_a_silent_writer(pipe: tuple[int, int]) -> None:
    with pytest.raises(TimeoutError):
        FrameReader(pipe[0]).read(time.monotonic() + 0.05)


def test_the_deadline_ends_a_wait_for_the_rest_of_a_frame(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    raw = _frame(b'{"v": {"B": 0}, "buffers": [16]}', b"only half")
    os.write(write_end, raw)
    with pytest.raises(TimeoutError):
        FrameReader(read_end).read(time.monotonic() + 0.05)


def test_a_past_deadline_raises_at_once(pipe: tuple[int, int]) -> None:
    with pytest.raises(TimeoutError):
        FrameReader(pipe[0]).read(time.monotonic() - 1)


def test_a_closed_writer_is_end_of_file(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.write(write_end, b"\x00\x00")  # half a length prefix, then the writer is gone
    os.close(write_end)
    with pytest.raises(EOFError):
        FrameReader(read_end).read(time.monotonic() + 5)


# -- malformed values that numpy or float conversion refuse ----------------------------------

NUMPY_REFUSED = [
    (b'{"v": {"A": 0, "dtype": ",", "shape": [1]}, "buffers": [8]}', "dtype_numpy_cannot_parse"),
    (b'{"v": {"A": 0, "dtype": "0[", "shape": [1]}, "buffers": [8]}', "dtype_bad_format"),
    (
        b'{"v": {"A": 0, "dtype": "<f8", "shape": [0, 9223372036854775808]}, "buffers": [0]}',
        "huge_dimension",
    ),
    (b'{"v": {"C": [1' + b"0" * 400 + b", 0]}}", "complex_too_large"),
]


@pytest.mark.parametrize(
    "header", [case[0] for case in NUMPY_REFUSED], ids=[case[1] for case in NUMPY_REFUSED]
)
def test_values_numpy_refuses_are_channel_errors(header: bytes) -> None:
    body = bytes(8) if b'"buffers": [8]' in header else b""
    with pytest.raises(ChannelError):
        _read_raw(_frame(header, body))
