"""Novelty before evaluation: refusing near copies of programs already evaluated.

Exact duplicates are caught by the engine through the normalised code hash. This module
catches near duplicates: each program's evolve blocks become a set of token shingles
(``shingle_size`` consecutive tokens, comments and layout ignored), summarised by a
MinHash signature whose agreement rate estimates the Jaccard similarity of two sets. A
child whose estimated similarity to any evaluated program reaches ``threshold`` is
rejected before it costs an evaluation.

The index is rebuilt from the run database on resume (it is a function of the
evaluated programs), so it holds no state of its own. It keeps the signatures of the
latest ``WINDOW`` evaluated programs (exact copies of older ones are still caught by the
code hash), so its memory is bounded on long runs. A query does not scan them all: the
signature is cut into bands of ``BAND_ROWS`` values, and a stored program whose estimated
similarity reaches the threshold can differ in at most ``d`` positions, hence in at most
``d`` bands; it therefore matches exactly in at least one of any ``d + 1`` bands. The
index keeps a table of those ``d + 1`` bands and compares only the programs that share
one with the query: the same answer as a full scan, at a cost that does not grow with
the run. (For a threshold so low that more bands are needed than the signature has, it
scans all of them.)

:class:`EmbeddingNoveltyIndex` (``novelty.method: embeddings``) asks an embeddings
endpoint for a vector of each program's evolve blocks and rejects a child whose cosine
similarity to an evaluated program reaches ``embedding_threshold``. A remote model's
vectors need not be reproducible, so the engine stores each evaluated program's vector
in the run database and a resumed run reads them back instead of asking again. It keeps
a MinHash index beside the vectors: a child whose vector cannot be had (the endpoint
failed) is checked by MinHash instead, and after :data:`EMBEDDING_FAILURES_TO_GIVE_UP`
failed requests in a row the index stops asking for the rest of the invocation.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import threading
import tokenize
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from evoforge.blocks import BlockError, evolve_blocks
from evoforge.config import NoveltyConfig
from evoforge.llm.records import EmbeddingError

__all__ = [
    "BAND_ROWS",
    "EMBEDDING_FAILURES_TO_GIVE_UP",
    "WINDOW",
    "EmbeddingNoveltyIndex",
    "NoveltyIndex",
    "decode_vector",
    "encode_vector",
    "evolved_text",
    "minhash_signature",
    "shingles",
]

#: Failed embeddings requests in a row after which the index uses MinHash only.
EMBEDDING_FAILURES_TO_GIVE_UP = 3
#: Characters of the evolve blocks sent for an embedding (endpoints cap their input).
EMBEDDING_INPUT_CHARS = 16000
_CACHE_SIZE = 256

_PRIME = (1 << 31) - 1  # a Mersenne prime small enough for exact uint64 products
_PERMUTATION_SEED = 20240601  # fixed: signatures must mean the same on resume

WINDOW = 10_000
"""Evaluated programs whose signatures the index keeps (the latest ones)."""

BAND_ROWS = 4
"""Signature values per band of the lookup tables."""
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


def evolved_text(code: str) -> str:
    """The code's evolve blocks joined (the whole code if it has none)."""
    try:
        return "\n".join(evolve_blocks(code))
    except BlockError:
        return code


def shingles(code: str, size: int) -> set[str]:
    """The token shingles of the code's evolve blocks (the whole code if it has none)."""
    tokens = _tokens(evolved_text(code))
    if len(tokens) <= size:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}


@functools.lru_cache(maxsize=8)
def _permutations(count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(_PERMUTATION_SEED)
    a = rng.integers(1, _PRIME, size=count, dtype=np.uint64)
    b = rng.integers(0, _PRIME, size=count, dtype=np.uint64)
    return a, b


def minhash_signature(code: str, config: NoveltyConfig) -> np.ndarray:
    """The MinHash signature (uint32, ``num_permutations`` values) of the code's shingles;
    all values ``_PRIME`` for code without tokens. A pure function of code and config."""
    items = shingles(code, config.shingle_size)
    if not items:
        return np.full(config.num_permutations, _PRIME, dtype=np.uint32)
    a, b = _permutations(config.num_permutations)
    hashes = np.array(
        [
            int.from_bytes(hashlib.blake2b(item.encode(), digest_size=8).digest(), "little")
            % _PRIME
            for item in sorted(items)
        ],
        dtype=np.uint64,
    )
    # (a * h + b) mod p for every permutation and shingle; a, h < 2**31 keeps the
    # product inside uint64, and every value is below 2**31.
    values = (np.outer(a, hashes) + b[:, None]) % np.uint64(_PRIME)
    return np.asarray(values.min(axis=1), dtype=np.uint32)


def _mismatches_allowed(count: int, threshold: float) -> int:
    """The most positions a signature may differ in and still reach ``threshold``."""
    allowed = 0
    while allowed < count and (count - allowed - 1) / count >= threshold:
        allowed += 1
    return allowed


class NoveltyIndex:
    """MinHash signatures of the latest evaluated programs; answers "is this a near copy?".

    ``window``: how many signatures are kept (the oldest leaves first). Programs are
    compared in the order they were added, so ties go to the oldest kept.
    """

    def __init__(self, config: NoveltyConfig, *, window: int = WINDOW) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self.config = config
        self.window = window
        count = config.num_permutations
        self._rows = np.zeros((min(window, 1024), count), dtype=np.uint32)
        self._ids: list[str] = []
        self._added = 0  # programs ever added; row of program k is k % window
        bands = count // BAND_ROWS
        needed = _mismatches_allowed(count, config.threshold) + 1
        # None: more bands needed than the signature has, so every query scans all rows
        self._bands: list[dict[bytes, set[int]]] | None = (
            [{} for _ in range(needed)] if needed <= bands else None
        )

    def __len__(self) -> int:
        return len(self._ids)

    def signature(self, code: str) -> np.ndarray:
        """The MinHash signature of the code's shingles (see :func:`minhash_signature`)."""
        return minhash_signature(code, self.config)

    def add(self, program_id: str, code: str, signature: np.ndarray | None = None) -> None:
        """Index an evaluated program; ``signature`` when already computed (it must be
        ``self.signature(code)``)."""
        values = self.signature(code) if signature is None else signature
        row = self._added % self.window
        if row >= len(self._rows):
            size = min(self.window, 2 * len(self._rows))
            grown = np.zeros((size, self._rows.shape[1]), dtype=np.uint32)
            grown[: len(self._rows)] = self._rows
            self._rows = grown
        if self._added >= self.window:
            self._forget(row)
            self._ids[row] = program_id
        else:
            self._ids.append(program_id)
        self._rows[row] = values
        if self._bands is not None:
            for band, table in enumerate(self._bands):
                table.setdefault(_band_key(values, band), set()).add(row)
        self._added += 1

    def _forget(self, row: int) -> None:
        if self._bands is None:
            return
        old = self._rows[row]
        for band, table in enumerate(self._bands):
            key = _band_key(old, band)
            rows = table.get(key)
            if rows is not None:
                rows.discard(row)
                if not rows:
                    del table[key]

    def _in_order(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` sorted from the oldest program to the latest."""
        if self._added <= self.window:
            return np.sort(rows)
        start = self._added % self.window  # the oldest kept program's row
        return rows[np.argsort((rows - start) % self.window, kind="stable")]

    def most_similar(
        self, code: str, signature: np.ndarray | None = None
    ) -> tuple[str, float] | None:
        """The kept program most similar to ``code`` and the estimated Jaccard (the
        oldest on a tie), or None when the index is empty. A full scan."""
        if not self._ids:
            return None
        values = self.signature(code) if signature is None else signature
        rows = self._in_order(np.arange(len(self._ids)))
        return self._best_of(rows, values)

    def _best_of(self, rows: np.ndarray, values: np.ndarray) -> tuple[str, float]:
        agreement = (self._rows[rows] == values).mean(axis=1)
        best = int(np.argmax(agreement))
        return self._ids[int(rows[best])], float(agreement[best])

    def near_duplicate(self, code: str, signature: np.ndarray | None = None) -> str | None:
        """A rejection reason when ``code`` is a near copy of a kept program, else None.
        ``signature``: the code's signature when already computed."""
        if not self._ids:
            return None
        values = self.signature(code) if signature is None else signature
        if self._bands is None:
            rows = self._in_order(np.arange(len(self._ids)))
        else:
            found: set[int] = set()
            for band, table in enumerate(self._bands):
                found.update(table.get(_band_key(values, band), ()))
            if not found:
                return None
            rows = self._in_order(np.fromiter(found, dtype=np.int64, count=len(found)))
        program_id, similarity = self._best_of(rows, values)
        if similarity < self.config.threshold:
            return None
        return f"near duplicate of {program_id} (estimated similarity {similarity:.2f})"


def _band_key(values: np.ndarray, band: int) -> bytes:
    return values[band * BAND_ROWS : (band + 1) * BAND_ROWS].tobytes()


def encode_vector(vector: np.ndarray) -> str:
    """A vector as text for the run database (little-endian float32, base64)."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float64)


class EmbeddingNoveltyIndex:
    """Cosine similarity of embedding vectors; MinHash where a vector is missing.

    ``embed`` turns texts into vectors and raises
    :class:`~evoforge.llm.records.EmbeddingError`. :meth:`vector` may be called from
    worker threads (the engine asks for a child's vector before checking it, off the
    event loop); everything else runs on the engine's thread.
    """

    def __init__(self, config: NoveltyConfig, embed: Callable[[list[str]], list[list[float]]]):
        self.config = config
        self.minhash = NoveltyIndex(config)
        self._embed = embed
        self._ids: list[str] = []
        self._vectors: list[np.ndarray] = []
        self._matrix: np.ndarray | None = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._failures_in_a_row = 0
        #: Why the index stopped asking for vectors (None while it still asks).
        self.gave_up: str | None = None
        #: Children checked by MinHash because their vector could not be had.
        self.fallbacks = 0

    def __len__(self) -> int:
        return len(self.minhash)

    @staticmethod
    def _key(code: str) -> str:
        return hashlib.sha256(evolved_text(code).encode("utf-8", "replace")).hexdigest()

    def cached(self, code: str) -> np.ndarray | None:
        """The vector already fetched for this code, if any (no request)."""
        with self._lock:
            return self._cache.get(self._key(code))

    def vector(self, code: str) -> np.ndarray | None:
        """The unit vector of the code's evolve blocks, fetched once and cached; None
        when the endpoint failed (or the index gave up on it)."""
        key = self._key(code)
        with self._lock:
            found = self._cache.get(key)
            if found is not None or self.gave_up is not None:
                return found
        try:
            raw = self._embed([evolved_text(code)[:EMBEDDING_INPUT_CHARS]])[0]
        except EmbeddingError as exc:
            with self._lock:
                self._failures_in_a_row += 1
                if self._failures_in_a_row >= EMBEDDING_FAILURES_TO_GIVE_UP:
                    self.gave_up = str(exc)
            return None
        vector = np.asarray(raw, dtype=np.float64)
        norm = float(np.linalg.norm(vector))
        vector = vector / norm if norm > 0 else vector
        with self._lock:
            self._failures_in_a_row = 0
            self._cache[key] = vector
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return vector

    def add(self, program_id: str, code: str, vector: np.ndarray | None = None) -> None:
        """Index an evaluated program: its MinHash signature, and its vector when given
        or already fetched (no request is made here)."""
        self.minhash.add(program_id, code)
        if vector is None:
            vector = self.cached(code)
        if vector is not None:
            self._ids.append(program_id)
            self._vectors.append(np.asarray(vector, dtype=np.float64))
            self._matrix = None

    def most_similar(self, vector: np.ndarray) -> tuple[str, float] | None:
        """The stored program whose vector is nearest and the cosine similarity."""
        if not self._ids:
            return None
        if self._matrix is None:
            self._matrix = np.vstack(self._vectors)
        if self._matrix.shape[1] != vector.shape[0]:
            return None  # vectors of another model (the config changed): not comparable
        similarity = self._matrix @ vector
        index = int(np.argmax(similarity))
        return self._ids[index], float(similarity[index])

    def near_duplicate(self, code: str) -> str | None:
        """A rejection reason when ``code`` is a near copy of a stored program, else None."""
        vector = self.vector(code)
        if vector is None:
            self.fallbacks += 1
            return self.minhash.near_duplicate(code)
        found = self.most_similar(vector)
        if found is None or found[1] < self.config.embedding_threshold:
            return None
        return f"near duplicate of {found[0]} (cosine similarity {found[1]:.3f})"
