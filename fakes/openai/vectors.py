"""Deterministic stand-ins for an embedding model and its tokenizer.

A text's vector is the normalised sum of one random unit vector per word,
plus a smaller random vector seeded by the whole text. The same text always
gets the same vector, texts that share words get similar vectors, and texts
with no word in common are nearly orthogonal.
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
