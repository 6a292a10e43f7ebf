"""Deterministic stand-ins for an embedding model and its tokenizer.

A text's vector is the normalised sum of one random unit vector per word,
plus a smaller random vector seeded by the whole text. The same text always
gets the same vector, texts that share words get similar vectors, and texts
with no word in common are nearly orthogonal. `HashVectors` is a cheaper
stand-in for load tests that keeps only the first property (same text,
same vector).
"""

import hashlib
import re
from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# Weight of the whole-text vector against the bag of words; 0.3 keeps two
# texts with the same words at a cosine similarity of about 0.92.
TEXT_NOISE_WEIGHT = 0.3

_WORD = re.compile(r"\w+")

# Vector modes: "words" (the default) keeps texts that share words similar,
# and "hash" costs one vector addition per text for load tests.
VECTOR_MODES = ("words", "hash")
HASH_TABLE_ROWS = 1024
HASH_TABLE_SEED = 1536


def estimate_tokens(text: str) -> int:
    """Estimate a text's token count as half its UTF-8 length, rounded up.

    This is a rough stand-in for OpenAI's tokenizer, not an exact count for
    any language. For typical English it runs high (OpenAI's rule of thumb is
    about four characters per token), so the fake's limits tend to reject an
    input no later than the real API would.
    """
    return (len(text.encode("utf-8")) + 1) // 2


def _seeded_unit_vector(seed_text: str, dimension: int) -> FloatArray:
    seed = int.from_bytes(hashlib.sha256(seed_text.encode("utf-8")).digest()[:8])
    vector = np.random.default_rng(seed).standard_normal(dimension)
    return vector / np.linalg.norm(vector)


@lru_cache(maxsize=100_000)
def _word_vector(word: str, dimension: int) -> FloatArray:
    vector = _seeded_unit_vector("word:" + word, dimension)
    vector.setflags(write=False)
    return vector


def embed_text(text: str, dimension: int) -> FloatArray:
    """Return the unit-length vector of `text` with `dimension` components."""
    bag = np.zeros(dimension)
    for word in _WORD.findall(text.lower()):
        bag += _word_vector(word, dimension)
    noise = _seeded_unit_vector("text:" + text, dimension)
    norm = np.linalg.norm(bag)
    vector = bag / norm + TEXT_NOISE_WEIGHT * noise if norm > 0 else noise
    return vector / np.linalg.norm(vector)


def shorten(vector: FloatArray, dimensions: int) -> FloatArray:
    """Keep the first `dimensions` components and rescale to unit length.

    This imitates the `dimensions` request option of text-embedding-3 models.
    """
    head = vector[:dimensions]
    return head / np.linalg.norm(head)


class WordVectors:
    """The default vectors: similar for texts that share words, slow to compute."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension

    def vector(self, text: str, dimensions: int | None) -> FloatArray:
        """Return the unit vector of `text`, cut to `dimensions` when it is set."""
        vector = embed_text(text, self.dimension)
        return vector if dimensions is None else shorten(vector, dimensions)


class HashVectors:
    """Cheap vectors for load tests, chosen by a hash of the text alone.

    A text's vector is the normalised sum of two rows of a fixed table of
    random unit vectors, picked by its BLAKE2b hash. The same text always gets
    the same vector, and distinct texts almost always get distinct ones, but
    texts that share words are no more similar than any other two.
    """

    def __init__(self, dimension: int, rows: int = HASH_TABLE_ROWS) -> None:
        self.dimension = dimension
        table = np.random.default_rng(HASH_TABLE_SEED).standard_normal(
            (rows, dimension)
        )
        self._table = table.astype(np.float32)

    def vector(self, text: str, dimensions: int | None) -> FloatArray:
        """Return the unit vector of `text`, cut to `dimensions` when it is set."""
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
        rows = len(self._table)
        first = int.from_bytes(digest[:4]) % rows
        second = int.from_bytes(digest[4:]) % rows
        length = self.dimension if dimensions is None else dimensions
        total = self._table[first, :length] + self._table[second, :length]
        return np.asarray(total / np.linalg.norm(total), dtype=np.float64)


def make_vectors(mode: str, dimension: int) -> WordVectors | HashVectors:
    """Build the vector source of a mode in VECTOR_MODES."""
    if mode == "words":
        return WordVectors(dimension)
    if mode == "hash":
        return HashVectors(dimension)
    raise ValueError(
        f"unknown vector mode {mode!r}, expected one of: {', '.join(VECTOR_MODES)}"
    )
