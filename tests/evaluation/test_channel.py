"""The channel's codec and frames: every value that may travel round-trips exactly; every
malformed, oversized, too deep or executable thing is refused, on both ends, unexecuted."""

from __future__ import annotations

import contextlib
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
    ChannelBroken,
    ChannelError,
    EvaluatorEnd,
    FrameReader,
    call_frame,
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
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    -(10**4000),
    1.5,
    -0.0,
    math.nan,
    math.inf,
    -math.inf,
    "",
    "text with ünïcödé and \x00",
    "a lone surrogate \ud800 travels as it is",
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
        encode(value)
    with pytest.raises(ChannelError):
        write_frame(pipe[1], {"value": value})
    os.close(pipe[1])
    with pytest.raises(EOFError):  # nothing at all was written for the refused message
        FrameReader(pipe[0]).read()


def test_an_int_too_long_to_write_is_refused_as_str_refuses_it() -> None:
    with pytest.raises(ValueError, match="Exceeds the limit"):
        encode(10**5000)


def test_nesting_up_to_the_limit_travels() -> None:
    value = _nested_list(MAX_DEPTH)
    assert _through_pipe(value) == value


# -- refused on decode -------------------------------------------------------------------------
#
# Bodies are written by hand here, byte by byte, as a hostile writer would: the stream length
# (u32), the tagged stream, then the arrays' bytes (see the values section of the channel).


def _u32(n: int) -> bytes:
    return struct.pack("<I", n)


def _u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def _str(text: str) -> bytes:
    data = text.encode()
    return b"s" + _u32(len(data)) + data


def _array_tag(dtype: bytes, shape: list[int]) -> bytes:
    return (
        b"a"
        + bytes([len(dtype)])
        + dtype
        + bytes([len(shape)])
        + b"".join(struct.pack("<Q", n) for n in shape)
    )


def _body(stream: bytes, arrays: bytes = b"") -> bytes:
    """A body: the stream's length, the stream, padding to 8, then ``arrays``."""
    head = _u32(len(stream)) + stream
    if arrays:
        head += bytes(-len(head) % 8)
    return head + arrays


def _message(value_stream: bytes) -> bytes:
    """The stream of ``{"v": value}``."""
    return b"d" + _u32(1) + _str("v") + value_stream


F8 = np.zeros(2).tobytes()
DEEP = b"".join([b"l" + _u32(1)] * (MAX_DEPTH + 2)) + b"N"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_body(_array_tag(b"|O", [2]), F8), "refused array dtype"),
        (_body(_array_tag(b"V16", [1]), F8), "refused array dtype"),
        (_body(_array_tag(b"<U2", [2]), F8), "refused array dtype"),
        (_body(_array_tag(b"<M8[s]", [2]), F8), "refused array dtype"),
        (_body(_array_tag(b"no such", [2]), F8), "unknown array dtype"),
        (_body(_array_tag(b",", [1]), F8[:8]), "unknown array dtype"),
        (_body(_array_tag(b"0[", [1]), F8[:8]), "unknown array dtype"),
        (_body(_array_tag(b"[('a','<f8')]", [2]), F8), "malformed array dtype"),
        (_body(_array_tag(b"", [2]), F8), "malformed array dtype"),
        (_body(_array_tag(b"<f8", [3]), F8), "do not match its bytes"),
        (_body(_array_tag(b"<f8", [0, 2**63]), b""), "bytes left|do not match"),
        (_body(_array_tag(b"<f8", [2**40, 2**20]), F8), "do not match its bytes"),
        (_body(_array_tag(b"<f4", [2]), F8), "bytes left after its value"),
        (_body(_array_tag(b"<f8", [1] * 40), F8), "malformed array shape"),
        (_body(_array_tag(b"<f8", [2])[:-4]), "runs past its end"),
        (_body(_array_tag(b"<f8", [2])), "do not match its bytes"),
        (_body(b"S" + bytes([3]) + b"<f8" + bytes(4)), "malformed numpy scalar"),
        (_body(b"S" + bytes([2]) + b"|O" + bytes(8)), "refused array dtype"),
        (_body(b"b" + _u32(100) + b"short"), "runs past its end"),
        (_body(b"s" + _u32(4) + b"\xff\xfe\xfd\xfc"), "not UTF-8"),
        (_body(b"s" + _u32(2**32 - 1) + b"x"), "runs past its end"),
        (_body(b"I" + _u32(3) + b"1e5"), "malformed integer"),
        (_body(b"I" + _u32(5000) + b"9" * 5000), "malformed value in message"),
        (_body(b"X"), "malformed value"),
        (_body(b""), "runs past its end"),
        (_body(b"f" + bytes(4)), "runs past its end"),
        (_body(b"NN"), "bytes left after its value"),
        (_body(b"N") + b"trailing", "bytes left after its value"),
        (_body(b"l" + _u32(2**31) + b"N"), "runs past its end"),
        (_body(b"d" + _u32(1) + b"N"), "runs past its end"),
        (_body(b"d" + _u32(1) + b"l" + _u32(0) + b"N"), "unhashable dict key"),
        (_body(b"c" + bytes(8)), "runs past its end"),
        (_u32(100) + b"N", "runs past its end"),
        (b"\x01\x00", "shorter than its stream length"),
        (_body(DEEP), f"nested deeper than {MAX_DEPTH} levels"),
        (_body(b"t" + _u32(1) + DEEP), f"nested deeper than {MAX_DEPTH} levels"),
        (_body(b"d" + _u32(1) + b"N" + DEEP), f"nested deeper than {MAX_DEPTH} levels"),
    ],
    ids=[
        "object_dtype",
        "void_dtype",
        "text_dtype",
        "datetime_dtype",
        "unknown_dtype",
        "dtype_numpy_cannot_parse",
        "dtype_bad_format",
        "structured_dtype",
        "empty_dtype",
        "too_few_bytes",
        "huge_dimension",
        "huge_shape",
        "too_many_bytes",
        "too_many_dimensions",
        "truncated_shape",
        "array_without_bytes",
        "short_scalar",
        "object_scalar",
        "short_bytes",
        "not_utf8",
        "huge_string_length",
        "integer_not_digits",
        "integer_too_long",
        "unknown_tag",
        "empty_stream",
        "truncated_float",
        "two_values",
        "bytes_after_the_body",
        "huge_count",
        "dict_without_its_value",
        "unhashable_key",
        "truncated_complex",
        "stream_longer_than_body",
        "shorter_than_a_length",
        "too_deep",
        "too_deep_in_a_tuple",
        "too_deep_in_a_dict",
    ],
)
def test_decode_refuses(body: bytes, message: str) -> None:
    with pytest.raises(ChannelError, match=message):
        decode(bytearray(body))


# Lists' ints and floats, and dicts' str keys, are read by a shorter path than other values:
# the same checks hold there.
@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_body(b"l" + _u32(2) + b"i" + bytes(8) + b"i" + bytes(4)), "runs past its end"),
        (_body(b"l" + _u32(1) + b"f" + bytes(7)), "runs past its end"),
        (_body(b"l" + _u32(1) + b"i" + bytes(8) + b"N"), "bytes left after its value"),
        (_body(b"d" + _u32(1) + b"s" + _u32(50) + b"ab" + b"N"), "runs past its end"),
        (_body(b"d" + _u32(1) + b"s" + _u32(2) + b"\xff\xfe" + b"N"), "not UTF-8"),
        (_body(b"d" + _u32(1) + b"s" + _u32(1)), "runs past its end"),
        (
            _body(b"".join([b"l" + _u32(1)] * (MAX_DEPTH + 1)) + b"i" + bytes(8)),
            f"nested deeper than {MAX_DEPTH} levels",
        ),
        (
            _body(b"".join([b"d" + _u32(1) + _str("k")] * (MAX_DEPTH + 1)) + b"N"),
            f"nested deeper than {MAX_DEPTH} levels",
        ),
        (_body(b"d" + _u32(1) + _str("k") + b"s" + _u32(50) + b"ab"), "runs past its end"),
        (_body(b"d" + _u32(1) + _str("k") + b"s" + _u32(2) + b"\xff\xfe"), "not UTF-8"),
        (
            _body(b"".join([b"d" + _u32(1) + _str("k")] * (MAX_DEPTH + 1)) + _str("v")),
            f"nested deeper than {MAX_DEPTH} levels",
        ),
        (_body(b"d" + _u32(1) + _str("k") + b"a" + bytes([3]) + b"<i8"), "runs past its end"),
        (
            _body(b"d" + _u32(1) + _str("k") + b"a" + bytes([3]) + b"<i8" + bytes([1]) + _u64(2)),
            "do not match its bytes",
        ),
        (
            _body(b"l" + _u32(1) + b"a" + bytes([2]) + b"|O" + bytes([1]) + _u64(1), bytes(8)),
            "dtype",
        ),
        (
            _body(b"t" + _u32(1) + b"a" + bytes([3]) + b"<f8" + bytes([2]) + _u64(2)),
            "runs past its end",
        ),
    ],
    ids=[
        "truncated_int_in_list",
        "truncated_float_in_list",
        "int_list_then_more",
        "key_past_the_end",
        "key_not_utf8",
        "key_without_its_value",
        "int_too_deep",
        "key_too_deep",
        "str_value_past_the_end",
        "str_value_not_utf8",
        "str_value_too_deep",
        "array_value_without_its_shape",
        "array_value_without_its_bytes",
        "object_array_in_a_list",
        "array_in_a_tuple_with_half_its_shape",
    ],
)
def test_decode_refuses_on_the_short_paths(body: bytes, message: str) -> None:
    with pytest.raises(ChannelError, match=message):
        decode(bytearray(body))


@pytest.mark.parametrize(
    "args",
    [
        (),
        (np.arange(826, dtype=np.int64).reshape(118, 7),),
        (1.0, np.arange(50.0)),
        (np.zeros((2, 3, 4), dtype=np.float32), np.bool_(True), np.int16(-3)),
        (1, "x", [1, 2.0, None, "y"], {"a": (1, b"z")}, True, 10**30, -(2**63), 2**63, 1 + 2j),
    ],
    ids=["none", "int_matrix", "float_and_vector", "cube_and_scalars", "plain_values"],
)
def test_a_call_frame_is_the_frame_of_the_call_message(
    args: tuple[object, ...], pipe: tuple[int, int]
) -> None:
    read_end, write_end = pipe
    write_frame(write_end, {"op": "call", "name": "priority", "args": args})
    expected = os.read(read_end, 1 << 20)
    assert bytes(call_frame("priority", args)) == expected
    assert bytes(call_frame("priority", args)) == expected  # its head is kept: the same again
    message = decode(bytearray(expected[4:]), -1)
    assert isinstance(message, dict) and message["op"] == "call"
    assert message["name"] == "priority" and len(message["args"]) == len(args)


def test_lists_of_numbers_and_str_keys_keep_their_types() -> None:
    value = {
        "numbers": [1, -2.5, -(2**63), 2**63 - 1, 2**63, -(2**63) - 1, True, 0.0, -0.0, 7],
        "é": (1.5, 2, [3, 4.0]),
        "": {"inner": [0, 1], 3: "x"},
    }
    back = decode(encode(value))
    _same(value, back)
    assert isinstance(back, dict)
    assert [type(item) for item in back["numbers"]] == [type(item) for item in value["numbers"]]
    assert math.copysign(1.0, back["numbers"][8]) == -1.0
    deepest = _nested_list(MAX_DEPTH)  # an int as deep as a value may be
    assert decode(encode(deepest)) == deepest


def test_nothing_that_can_travel_is_refused_when_read_back() -> None:
    value = {"k": [1, -(2**63), 2**63, 10**300, 1.5, "é", b"\x00", None, True, (np.arange(3),)]}
    _same(value, decode(encode(value)))


def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


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
        (_frame(b"\xff" * 16), "runs past its end"),
        (_frame(b'{"v": 1, "buffers": []}'), "runs past its end"),
        (_frame(_body(b"l" + _u32(1) + b"i" + bytes(8))), "not an object"),
        (_frame(_body(b"d" + _u32(1) + b"i" + bytes(8) + b"N")), "not an object"),
        (_frame(_body(_message(DEEP))), "nested deeper"),
        (_frame(_body(_message(_array_tag(b"|O", [1])), F8[:8])), "dtype"),
        (_frame(_body(_message(b"Z"))), "malformed value"),
    ],
    ids=[
        "garbage",
        "json",
        "not_an_object",
        "a_key_that_is_not_text",
        "value_too_deep",
        "object_array",
        "unknown_tag",
    ],
)
def test_frame_reader_refuses_malformed_frames(raw: bytes, message: str) -> None:
    with pytest.raises(ChannelError, match=message):
        _read_raw(raw)


def test_a_well_formed_hand_written_frame_is_read() -> None:
    raw = _frame(_body(_message(_array_tag(b"<f8", [2])), np.array([1.5, -2.0]).tobytes()))
    _same(np.array([1.5, -2.0]), _read_raw(raw)["v"])


def test_an_oversized_frame_is_refused_before_it_is_read(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.write(write_end, struct.pack(">I", 10_000_000))  # and nothing after it
    with pytest.raises(ChannelError, match="message of 10000000 bytes is over the limit"):
        FrameReader(read_end, max_bytes=1 << 20).read(time.monotonic() + 5)


def test_arrays_claiming_more_than_the_frame_holds_are_refused() -> None:
    stream = _message(_array_tag(b"<f8", [1_000_000_000]))
    with pytest.raises(ChannelError, match="do not match its bytes"):
        _read_raw(_frame(_body(stream, bytes(8))))


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
# Each with a reader that blocks at once and one that polls first (``spin_s``, for sides on
# processors of their own).

SPINS = pytest.mark.parametrize("spin_s", [0.0, 0.002], ids=["blocking", "spinning"])


@SPINS
def test_the_deadline_ends_a_wait_for_a_silent_writer(pipe: tuple[int, int], spin_s: float) -> None:
    with pytest.raises(TimeoutError):
        FrameReader(pipe[0], spin_s=spin_s).read(time.monotonic() + 0.05)


@SPINS
def test_the_deadline_ends_a_wait_for_the_rest_of_a_frame(
    pipe: tuple[int, int], spin_s: float
) -> None:
    read_end, write_end = pipe
    raw = _frame(_body(_message(b"b" + _u32(16)), b"only half"))[:-7]
    os.write(write_end, raw)
    with pytest.raises(TimeoutError):
        FrameReader(read_end, spin_s=spin_s).read(time.monotonic() + 0.05)


@SPINS
def test_a_past_deadline_raises_at_once(pipe: tuple[int, int], spin_s: float) -> None:
    with pytest.raises(TimeoutError):
        FrameReader(pipe[0], spin_s=spin_s).read(time.monotonic() - 1)


@SPINS
def test_a_closed_writer_is_end_of_file(pipe: tuple[int, int], spin_s: float) -> None:
    read_end, write_end = pipe
    os.write(write_end, b"\x00\x00")  # half a length prefix, then the writer is gone
    os.close(write_end)
    with pytest.raises(EOFError):
        FrameReader(read_end, spin_s=spin_s).read(time.monotonic() + 5)


@pytest.mark.parametrize("deadline", [True, False], ids=["deadline", "no-deadline"])
def test_a_spinning_reader_gets_frames_that_come_before_and_after_it_stops_polling(
    pipe: tuple[int, int], deadline: bool
) -> None:
    # the first frame comes at once (read while polling); the second in two pieces, long
    # after the polling gave up, with a large array (more than the pipe holds at once)
    read_end, write_end = pipe
    array = np.arange(100_000, dtype=np.int64)
    second = _frame(bytes(encode({"i": 1, "a": array})))

    def write() -> None:
        write_frame(write_end, {"i": 0})
        time.sleep(0.05)
        os.write(write_end, second[:3])
        time.sleep(0.05)
        with os.fdopen(os.dup(write_end), "wb") as rest:
            rest.write(second[3:])

    writer = threading.Thread(target=write)
    writer.start()
    try:
        reader = FrameReader(read_end, spin_s=0.002)
        until = (lambda: time.monotonic() + 5) if deadline else (lambda: None)
        assert reader.read(until()) == {"i": 0}
        message = reader.read(until())
    finally:
        writer.join()
    assert message["i"] == 1
    _same(array, message["a"])


def test_closing_the_evaluators_end_lets_the_candidate_side_leave() -> None:
    request_read, request_write = os.pipe()
    reply_read, reply_write = os.pipe()
    end = EvaluatorEnd(request_write, reply_read, call_timeout_s=5.0)
    try:
        end.close()
        with pytest.raises(EOFError):  # what the candidate side reads: end-of-file
            FrameReader(request_read).read()
        with pytest.raises(ChannelBroken, match="closed the channel"):
            end.call("anything")
    finally:
        for fd in (request_read, reply_write):
            os.close(fd)
