"""Novelty before evaluation: refusing near copies of programs already evaluated.

Exact duplicates are caught by the engine through the normalised code hash. This module
catches near duplicates: each program's evolve blocks become a set of token shingles
(``shingle_size`` consecutive tokens, comments and layout ignored), summarised by a
MinHash signature whose agreement rate estimates the Jaccard similarity of two sets. A
child whose estimated similarity to any evaluated program reaches ``threshold`` is
rejected before it costs an evaluation.

The index is rebuilt from the run database on resume (it is a function of the
evaluated programs), so it holds no state of its own. Signatures are compared with one
vectorised pass over all stored ones, which stays cheap for the thousands of programs
a run evaluates.
"""

from __future__ import annotations

import hashlib
import io
import tokenize

import numpy as np

from evoforge.blocks import BlockError, evolve_blocks
from evoforge.config import NoveltyConfig

__all__ = ["NoveltyIndex", "shingles"]

_PRIME = (1 << 31) - 1  # a Mersenne prime small enough for exact uint64 products
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}


def _tokens(code: str) -> list[str]:
    try:
        return [
            token.string
            for token in tokenize.generate_tokens(io.StringIO(code).readline)
            if token.type not in _SKIP and token.string
        ]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code.split()


def shingles(code: str, size: int) -> set[str]:
    """The token shingles of the code's evolve blocks (the whole code if it has none)."""
    try:
        text = "\n".join(evolve_blocks(code))
    except BlockError:
        text = code
    tokens = _tokens(text)
    if len(tokens) <= size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


class NoveltyIndex:
    """MinHash signatures of evaluated programs; answers "is this a near copy?"."""

    def __init__(self, config: NoveltyConfig) -> None:
        self.config = config
        rng = np.random.default_rng(20240601)  # fixed: signatures must mean the same on resume
        count = config.num_permutations
        self._a = rng.integers(1, _PRIME, size=count, dtype=np.uint64)
        self._b = rng.integers(0, _PRIME, size=count, dtype=np.uint64)
        self._signatures: list[np.ndarray] = []
        self._ids: list[str] = []
        self._matrix: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._ids)

    def signature(self, code: str) -> np.ndarray:
        """The MinHash signature of the code's shingles (all-max for an empty set)."""
        items = shingles(code, self.config.shingle_size)
        if not items:
            return np.full(self.config.num_permutations, _PRIME, dtype=np.uint64)
        hashes = np.array(
            [
                int.from_bytes(hashlib.blake2b(item.encode(), digest_size=8).digest(), "little")
                % _PRIME
                for item in sorted(items)
            ],
            dtype=np.uint64,
        )
        # (a * h + b) mod p for every permutation and shingle; a, h < 2**31 keeps the
        # product inside uint64.
        values = (np.outer(self._a, hashes) + self._b[:, None]) % np.uint64(_PRIME)
        return np.asarray(values.min(axis=1), dtype=np.uint64)

    def add(self, program_id: str, code: str) -> None:
        self._ids.append(program_id)
        self._signatures.append(self.signature(code))
        self._matrix = None

    def most_similar(self, code: str) -> tuple[str, float] | None:
        """The stored program most similar to ``code`` and the estimated Jaccard."""
        if not self._ids:
            return None
        if self._matrix is None:
            self._matrix = np.vstack(self._signatures)
        agreement = (self._matrix == self.signature(code)).mean(axis=1)
        index = int(np.argmax(agreement))
        return self._ids[index], float(agreement[index])

    def near_duplicate(self, code: str) -> str | None:
        """A rejection reason when ``code`` is a near copy of a stored program, else None."""
        found = self.most_similar(code)
        if found is None or found[1] < self.config.threshold:
            return None
        return f"near duplicate of {found[0]} (estimated similarity {found[1]:.2f})"
