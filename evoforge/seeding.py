"""Seeded generators without numpy's seeding cost, draw for draw the same.

The engine draws each decision from a generator seeded with a few integers (the run's
seed, the iteration, a purpose): ``numpy.random.default_rng([seed, iteration,
purpose])``. Building one costs a :class:`numpy.random.SeedSequence` and a fresh
:class:`numpy.random.PCG64`, tens of microseconds on a driver whose caches went cold
while it waited, twice per iteration. :func:`pcg64_state` computes the same generator
state in plain integer arithmetic (numpy's ``SeedSequence`` hash, then ``PCG64``'s
seeding), and :class:`Reseeded` sets it on one generator it keeps: the draws that follow
are exactly those of ``default_rng`` with the same integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.random.bit_generator import ISpawnableSeedSequence

__all__ = [
    "IterationSeeds",
    "PresetWords",
    "Reseeded",
    "pcg64_state",
    "seed_words",
    "seeded_generator",
]

_M32 = 0xFFFFFFFF
_M128 = (1 << 128) - 1
_INIT_A = 0x43B0D7E5
_MULT_A = 0x931E8875
_INIT_B = 0x8B51F9DD
_MULT_B = 0x58F38DED
_MIX_MULT_L = 0xCA01F9DD
_MIX_MULT_R = 0x4973F715
_PCG_MULTIPLIER = 0x2360ED051FC65DA44385DF649FCCF645
_POOL_SIZE = 4


def _hash_constants(
    count: int, initial: int = _INIT_A, step: int = _MULT_A
) -> list[tuple[int, int]]:
    """The (xor, multiplier) pairs of the first ``count`` hashes of a sequence: they
    depend on nothing but their position, so they are computed once."""
    pairs = []
    constant = initial
    for _ in range(count):
        following = (constant * step) & _M32
        pairs.append((constant, following))
        constant = following
    return pairs


_MIXING = _hash_constants(_POOL_SIZE * _POOL_SIZE)  # the pool words, then every pair
_PAIRS = [(source, target) for source in range(4) for target in range(4) if source != target]
_OUTPUT = _hash_constants(8, _INIT_B, _MULT_B)  # 4 uint64 words are 8 uint32 ones


def _words(entropy: Sequence[int]) -> list[int]:
    """The uint32 words numpy's ``SeedSequence`` makes of non-negative integers: each one
    little-endian, at least one word (0 is one word)."""
    words: list[int] = []
    for value in entropy:
        value = int(value)
        if value < 0:
            raise ValueError(f"seed values must be non-negative, got {value}")
        words.append(value & _M32)
        value >>= 32
        while value:
            words.append(value & _M32)
            value >>= 32
    return words


def seed_words(entropy: Sequence[int]) -> list[int]:
    """``SeedSequence(entropy).generate_state(4, np.uint64)`` as Python integers: the
    four words ``PCG64`` seeds itself from. ``entropy``: non-negative integers."""
    words = _words(entropy)
    pool = []
    for index in range(_POOL_SIZE):
        xor, multiplier = _MIXING[index]
        value = (((words[index] if index < len(words) else 0) ^ xor) * multiplier) & _M32
        pool.append(value ^ (value >> 16))
    for step, (source, target) in enumerate(_PAIRS, start=_POOL_SIZE):
        xor, multiplier = _MIXING[step]
        value = ((pool[source] ^ xor) * multiplier) & _M32
        value ^= value >> 16
        mixed = (_MIX_MULT_L * pool[target] - _MIX_MULT_R * value) & _M32
        pool[target] = mixed ^ (mixed >> 16)
    if len(words) > _POOL_SIZE:  # every further word is mixed into every pool word
        extra = _hash_constants(_POOL_SIZE * _POOL_SIZE + _POOL_SIZE * (len(words) - 4))
        step = _POOL_SIZE * _POOL_SIZE
        for word in words[_POOL_SIZE:]:
            for target in range(_POOL_SIZE):
                xor, multiplier = extra[step]
                step += 1
                value = ((word ^ xor) * multiplier) & _M32
                value ^= value >> 16
                mixed = (_MIX_MULT_L * pool[target] - _MIX_MULT_R * value) & _M32
                pool[target] = mixed ^ (mixed >> 16)
    out = []
    for index, (xor, multiplier) in enumerate(_OUTPUT):
        value = ((pool[index & 3] ^ xor) * multiplier) & _M32
        out.append(value ^ (value >> 16))
    return [
        out[0] | out[1] << 32,
        out[2] | out[3] << 32,
        out[4] | out[5] << 32,
        out[6] | out[7] << 32,
    ]


def _block_words(seed: int, purpose: int, start: int, count: int) -> list[list[int]]:
    """:func:`seed_words` of ``(seed, i, purpose)`` for ``i`` in ``start .. start +
    count - 1``, all at once in numpy's uint32 arithmetic (which wraps as the hash does);
    every value must be below 2**32 (one word each)."""
    u32 = np.uint32
    iterations = np.arange(start, start + count, dtype=np.uint64).astype(u32)
    entropy = [np.full(count, seed, u32), iterations, np.full(count, purpose, u32)]
    entropy.append(np.zeros(count, u32))
    pool = []
    for index in range(_POOL_SIZE):
        xor, multiplier = _MIXING[index]
        value = (entropy[index] ^ u32(xor)) * u32(multiplier)
        pool.append(value ^ (value >> u32(16)))
    for step, (source, target) in enumerate(_PAIRS, start=_POOL_SIZE):
        xor, multiplier = _MIXING[step]
        value = (pool[source] ^ u32(xor)) * u32(multiplier)
        value ^= value >> u32(16)
        mixed = u32(_MIX_MULT_L) * pool[target] - u32(_MIX_MULT_R) * value
        pool[target] = mixed ^ (mixed >> u32(16))
    out = []
    for index, (xor, multiplier) in enumerate(_OUTPUT):
        value = (pool[index & 3] ^ u32(xor)) * u32(multiplier)
        out.append((value ^ (value >> u32(16))).astype(np.uint64))
    words = np.stack([out[2 * k] | (out[2 * k + 1] << np.uint64(32)) for k in range(4)], axis=1)
    rows: list[list[int]] = words.tolist()
    return rows


class IterationSeeds:
    """:func:`seed_words` of ``(seed, iteration, purpose)``, computed for
    ``BLOCK`` iterations at a time per purpose (a run asks for them in order): the
    same words for a small share of the cost each. Values of 2**32 or more (more than
    one word) are computed one by one."""

    BLOCK = 128

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._blocks: dict[int, tuple[int, list[list[int]]]] = {}

    def words(self, iteration: int, purpose: int) -> list[int]:
        block = self._blocks.get(purpose)
        if block is not None and 0 <= iteration - block[0] < len(block[1]):
            return block[1][iteration - block[0]]
        if not (0 <= self.seed <= _M32 and 0 <= purpose <= _M32):
            return seed_words((self.seed, iteration, purpose))
        if not 0 <= iteration <= _M32 - self.BLOCK:
            return seed_words((self.seed, iteration, purpose))
        rows = _block_words(self.seed, purpose, iteration, self.BLOCK)
        self._blocks[purpose] = (iteration, rows)
        return rows[0]


def pcg64_state(entropy: Sequence[int], words: list[int] | None = None) -> tuple[int, int]:
    """``(state, inc)`` of ``numpy.random.PCG64(SeedSequence(entropy))``: what
    ``default_rng(list(entropy))`` starts from. ``entropy``: non-negative integers;
    ``words``: their :func:`seed_words`, when known."""
    if words is None:
        words = seed_words(entropy)
    # PCG64 seeds from four uint64 words: the initial state, then the sequence
    initial = (words[0] << 64) | words[1]
    increment = ((((words[2] << 64) | words[3]) << 1) | 1) & _M128
    # pcg_setseq_128_srandom_r: state 0, one step, add the initial state, one step
    state = ((increment + initial) * _PCG_MULTIPLIER + increment) & _M128
    return state, increment


def seeded_generator(entropy: Sequence[int], words: list[int] | None = None) -> np.random.Generator:
    """A new generator in the state of ``default_rng(list(entropy))``, built without
    numpy's ``SeedSequence`` (the words it would give are computed here, or passed as
    ``words``). It pickles as any generator does and draws the same numbers; its
    ``bit_generator.seed_seq`` is a :class:`PresetWords`; ``spawn`` gives the children
    ``default_rng``'s generator would."""
    preset = PresetWords(tuple(entropy), words)
    # numpy takes any ISeedSequence here; its type stubs name SeedSequence only
    return np.random.Generator(np.random.PCG64(preset))  # type: ignore[arg-type]


class PresetWords(ISpawnableSeedSequence):
    """A seed sequence that hands ``PCG64`` the words ``SeedSequence(entropy)`` would
    (``words``, or computed by :func:`seed_words`); any other request, ``spawn``
    included, goes to a real one (made on first need and kept, so that successive
    spawns give new children, as numpy's do)."""

    def __init__(self, entropy: tuple[int, ...], words: list[int] | None = None) -> None:
        self.entropy = entropy
        self._words = seed_words(entropy) if words is None else words
        self._real: np.random.SeedSequence | None = None

    def _sequence(self) -> np.random.SeedSequence:
        if self._real is None:
            self._real = np.random.SeedSequence(list(self.entropy))
        return self._real

    def generate_state(self, n_words: int, dtype: Any = np.uint32) -> np.ndarray:
        if n_words == 4 and np.dtype(dtype) == np.uint64:
            return np.array(self._words, dtype=np.uint64)
        return self._sequence().generate_state(n_words, dtype)

    # numpy's stubs want children of this class; real SeedSequences are what numpy gives
    def spawn(self, n_children: int) -> list[np.random.SeedSequence]:  # type: ignore[override]
        """``n_children`` independent seed sequences: those numpy's ``SeedSequence``
        with the same entropy would spawn at this point."""
        return self._sequence().spawn(n_children)

    def __repr__(self) -> str:
        return f"PresetWords({self.entropy!r})"


class Reseeded:
    """One PCG64 generator, reseeded in place: ``seeded(entropy)`` returns it in the
    state ``default_rng(list(entropy))`` starts in (``words``: the entropy's
    :func:`seed_words`, when known). The same object every time, so a caller uses it
    before asking for the next one and never keeps it."""

    def __init__(self) -> None:
        self._generator = np.random.Generator(np.random.PCG64(0))
        self._bits = self._generator.bit_generator

    def seeded(self, entropy: Sequence[int], words: list[int] | None = None) -> np.random.Generator:
        state, increment = pcg64_state(entropy, words)
        self._bits.state = {
            "bit_generator": "PCG64",
            "state": {"state": state, "inc": increment},
            "has_uint32": 0,
            "uinteger": 0,
        }
        return self._generator
