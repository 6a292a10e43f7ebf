import hashlib
import random
from datetime import UTC, datetime

import pytest

from services.common.text import clean_message_text
from services.rag.chunking import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_OVERLAP_TOKENS,
    Chunk,
    E5Tokenizer,
    Tokenizer,
    Utf8ByteBound,
    split_into_chunks,
)
from services.rag.documents import DocumentSection, SourceDocument

RUSSIAN_WORDS = (
    "клиент оплата счёт договор тариф перенос возврат менеджер поддержка задача"
    " интеграция сервер ошибка платёж выписка банк неделя пятница звонок письмо"
    " миграция база данных отчёт доступ пароль аккаунт проект срок релиз"
    " проверить исправить отправить согласовать обновить подключить"
).split()
ENGLISH_WORDS = (
    "customer invoice payment contract plan refund manager support ticket issue"
    " integration server error bank statement week friday call email migration"
    " database report access password account project deadline release"
    " check fix send approve update connect"
).split()


@pytest.fixture(scope="module")
def e5() -> E5Tokenizer:
    return E5Tokenizer()


def make_sentences(words: tuple[str, ...] | list[str], count: int, seed: int) -> str:
    """Build `count` distinct pseudo-sentences from a vocabulary."""
    rng = random.Random(seed)
    sentences = []
    for number in range(count):
        body = " ".join(rng.choice(words) for _ in range(rng.randint(5, 14)))
        sentences.append(f"{body.capitalize()} {number}{rng.choice('.!?')}")
    return " ".join(sentences)


def make_document(
    sections: list[DocumentSection], title: str = "Conversation #12 with Jane"
) -> SourceDocument:
    return SourceDocument(
        project_id="00000000-0000-0000-0000-00000000000a",
        source_type="chatwoot_conversation",
        external_id="12",
        title=title,
        url="http://127.0.0.1/conversations/12",
        updated_at=datetime(2025, 7, 1, tzinfo=UTC),
        deleted=False,
        sections=tuple(sections),
    )


def section(
    text: str, section_id: str, role: str = "customer", name: str = "Jane"
) -> DocumentSection:
    return DocumentSection(role, name, text, None, section_id)


def conversation(words: list[str], seed: int, messages: int) -> SourceDocument:
    rng = random.Random(seed)
    sections = []
    for index in range(messages):
        role, name = ("customer", "Jane") if index % 2 == 0 else ("agent", "Anna")
        text = make_sentences(words, rng.randint(1, 12), seed * 1000 + index)
        sections.append(section(text, f"m{index}", role, name))
    return make_document(sections)


def expected_lines(document: SourceDocument) -> list[str]:
    labels = {"customer": "Customer", "agent": "Agent", "author": "Author"}
    lines = [document.title]
    for item in document.sections:
        text = " ".join(item.text.split())
        if text:
            lines.append(f"{labels[item.author_role]} {item.author_name}: {text}")
    return lines


def overlap_prefix(previous: Chunk, current: Chunk) -> str:
    """Return the leading lines of `current` that repeat the end of `previous`."""
    lines = current.text.split("\n")
    for count in range(len(lines) - 1, 0, -1):
        prefix = "\n".join(lines[:count])
        if previous.text.endswith(prefix):
            return prefix
    return ""


def words_without_overlap(chunks: list[Chunk]) -> list[str]:
    words = chunks[0].text.split()
    for previous, current in zip(chunks, chunks[1:], strict=False):
        prefix = overlap_prefix(previous, current)
        words += current.text[len(prefix) :].split()
    return words


class TestLimits:
    @pytest.mark.parametrize(
        ("words", "seed"), [(RUSSIAN_WORDS, 1), (ENGLISH_WORDS, 2)], ids=["ru", "en"]
    )
    def test_every_chunk_within_max_tokens(
        self, e5: E5Tokenizer, words: list[str], seed: int
    ) -> None:
        document = conversation(words, seed, messages=30)

        chunks = split_into_chunks(
            document, e5, max_tokens=DEFAULT_MAX_TOKENS, overlap_tokens=32
        )

        assert len(chunks) > 5
        for chunk in chunks:
            assert e5.count(chunk.text) <= DEFAULT_MAX_TOKENS
            assert chunk.token_count == e5.count(chunk.text)

    def test_byte_bound_limits_utf8_length(self) -> None:
        document = conversation(RUSSIAN_WORDS, 3, messages=10)

        chunks = split_into_chunks(
            document, Utf8ByteBound(), max_tokens=600, overlap_tokens=120
        )

        assert len(chunks) > 3
        for chunk in chunks:
            assert len(chunk.text.encode("utf-8")) <= 600

    def test_byte_bound_counts_utf8_bytes(self) -> None:
        assert Utf8ByteBound().count("Счёт №5") == 13

    def test_e5_count_includes_prefix_and_specials(self, e5: E5Tokenizer) -> None:
        assert e5.count("") >= 3
        assert e5.count("привет, как дела у клиента") > e5.count("привет")

    def test_small_limits_still_hold(self, e5: E5Tokenizer) -> None:
        document = conversation(ENGLISH_WORDS, 4, messages=6)

        chunks = split_into_chunks(document, e5, max_tokens=24, overlap_tokens=6)

        assert chunks
        for chunk in chunks:
            assert e5.count(chunk.text) <= 24

    def test_overlap_not_below_max_is_rejected(self, e5: E5Tokenizer) -> None:
        with pytest.raises(ValueError, match="overlap_tokens"):
            split_into_chunks(
                conversation(ENGLISH_WORDS, 5, 2), e5, max_tokens=50, overlap_tokens=50
            )


class TestCoverage:
    @pytest.mark.parametrize(
        ("words", "seed"), [(RUSSIAN_WORDS, 6), (ENGLISH_WORDS, 7)], ids=["ru", "en"]
    )
    def test_no_text_lost_and_order_kept(
        self, e5: E5Tokenizer, words: list[str], seed: int
    ) -> None:
        document = conversation(words, seed, messages=25)

        chunks = split_into_chunks(document, e5, max_tokens=160, overlap_tokens=32)

        expected = " ".join(expected_lines(document)).split()
        assert words_without_overlap(chunks) == expected

    def test_consecutive_chunks_overlap(self, e5: E5Tokenizer) -> None:
        document = conversation(RUSSIAN_WORDS, 8, messages=25)

        chunks = split_into_chunks(document, e5, max_tokens=160, overlap_tokens=32)

        assert len(chunks) > 3
        for previous, current in zip(chunks, chunks[1:], strict=False):
            prefix = overlap_prefix(previous, current)
            assert prefix, (
                f"chunk {current.index} does not repeat chunk {previous.index}"
            )
            assert e5.count(prefix) <= 32

    def test_whole_trailing_section_is_the_overlap(self, e5: E5Tokenizer) -> None:
        long_text = make_sentences(ENGLISH_WORDS, 8, seed=9)
        document = make_document(
            [
                section(long_text, "m1"),
                section("Call me tomorrow at ten.", "m2", "agent", "Anna"),
                section(make_sentences(ENGLISH_WORDS, 8, seed=10), "m3"),
            ]
        )

        chunks = split_into_chunks(document, e5, max_tokens=160, overlap_tokens=32)

        assert len(chunks) == 2
        assert chunks[1].text.startswith("Agent Anna: Call me tomorrow at ten.\n")
        assert chunks[1].first_section_id == "m2"
        assert chunks[1].last_section_id == "m3"

    def test_zero_overlap_repeats_nothing(self, e5: E5Tokenizer) -> None:
        document = conversation(ENGLISH_WORDS, 11, messages=20)

        chunks = split_into_chunks(document, e5, max_tokens=160, overlap_tokens=0)

        expected = " ".join(expected_lines(document)).split()
        assert " ".join(chunk.text for chunk in chunks).split() == expected

    def test_overlong_word_cut_by_characters(self, e5: E5Tokenizer) -> None:
        blob = "".join(
            random.Random(12).choice("abcdef0123456789") for _ in range(3000)
        )
        document = make_document([section(f"token {blob} end", "m1")])

        chunks = split_into_chunks(document, e5, max_tokens=64, overlap_tokens=8)

        assert all(e5.count(chunk.text) <= 64 for chunk in chunks)
        joined = "".join(chunk.text.replace("\n", "") for chunk in chunks)
        assert blob in joined


@pytest.fixture(scope="module")
def description() -> str:
    text = make_sentences(RUSSIAN_WORDS, 2000, seed=13)[:60_000]
    assert len(text) == 60_000
    return text


@pytest.fixture(scope="module")
def chunks(e5: E5Tokenizer, description: str) -> list[Chunk]:
    document = make_document(
        [section(description, "description", "author", "Ivan")], title="ENG-42"
    )
    return split_into_chunks(document, e5, max_tokens=160, overlap_tokens=32)


class TestLongDescription:
    """A 60,000-character Russian issue description, far over any input limit."""

    def test_split_within_limit(self, e5: E5Tokenizer, chunks: list[Chunk]) -> None:
        assert len(chunks) > 50
        assert max(e5.count(chunk.text) for chunk in chunks) <= 160

    def test_fully_covered(self, chunks: list[Chunk], description: str) -> None:
        expected = f"ENG-42 Author Ivan: {description}".split()

        assert words_without_overlap(chunks) == expected

    def test_pieces_overlap(self, chunks: list[Chunk]) -> None:
        for previous, current in zip(chunks, chunks[1:], strict=False):
            assert overlap_prefix(previous, current)


class TestRendering:
    def test_sections_rendered_as_speaker_lines(self, e5: E5Tokenizer) -> None:
        document = make_document(
            [
                section("Hello, my invoice failed.", "m1"),
                section("We will check it today.", "m2", "agent", "Anna"),
                section("Ticket closed", "m3", "system", ""),
            ]
        )

        chunks = split_into_chunks(document, e5, max_tokens=160, overlap_tokens=32)

        assert [chunk.text for chunk in chunks] == [
            "Conversation #12 with Jane\n"
            "Customer Jane: Hello, my invoice failed.\n"
            "Agent Anna: We will check it today.\n"
            "System: Ticket closed"
        ]
        assert chunks[0].first_section_id == "m1"
        assert chunks[0].last_section_id == "m3"

    def test_title_opens_first_chunk_only(self, e5: E5Tokenizer) -> None:
        document = conversation(ENGLISH_WORDS, 14, messages=20)

        chunks = split_into_chunks(document, e5, max_tokens=160, overlap_tokens=32)

        assert chunks[0].text.startswith("Conversation #12 with Jane\n")
        assert all("Conversation #12" not in chunk.text for chunk in chunks[1:])

    def test_multiline_section_becomes_one_line(self, e5: E5Tokenizer) -> None:
        document = make_document([section("first line\n\nsecond\tline", "m1")])

        chunks = split_into_chunks(document, e5, max_tokens=160, overlap_tokens=32)

        assert chunks[0].text.endswith("Customer Jane: first line second line")


class TestStability:
    def test_unchanged_input_gives_same_hashes(self, e5: E5Tokenizer) -> None:
        first = split_into_chunks(
            conversation(RUSSIAN_WORDS, 15, 20), e5, max_tokens=160, overlap_tokens=32
        )
        second = split_into_chunks(
            conversation(RUSSIAN_WORDS, 15, 20),
            E5Tokenizer(),
            max_tokens=160,
            overlap_tokens=32,
        )

        assert [c.content_hash for c in first] == [c.content_hash for c in second]

    def test_hash_is_sha256_of_text(self, e5: E5Tokenizer) -> None:
        chunks = split_into_chunks(
            conversation(ENGLISH_WORDS, 16, 3), e5, max_tokens=160, overlap_tokens=32
        )

        for chunk in chunks:
            assert chunk.content_hash == hashlib.sha256(chunk.text.encode()).hexdigest()

    def test_indexes_are_consecutive(self, e5: E5Tokenizer) -> None:
        chunks = split_into_chunks(
            conversation(ENGLISH_WORDS, 17, 20), e5, max_tokens=160, overlap_tokens=32
        )

        assert [chunk.index for chunk in chunks] == list(range(len(chunks)))


class TestEmptyText:
    @pytest.mark.parametrize(
        "texts",
        [[], [""], ["   ", "\n\t"], ["\x00"]],
        ids=["none", "empty", "blank", "nul"],
    )
    def test_document_without_text_has_no_chunks(
        self, e5: E5Tokenizer, texts: list[str]
    ) -> None:
        document = make_document(
            [section(text, f"m{i}") for i, text in enumerate(texts)]
        )

        assert split_into_chunks(document, e5, max_tokens=160, overlap_tokens=32) == []

    def test_empty_sections_are_skipped(self, e5: E5Tokenizer) -> None:
        document = make_document([section("", "m1"), section("Счёт оплачен", "m2")])

        chunks = split_into_chunks(document, e5, max_tokens=160, overlap_tokens=32)

        assert len(chunks) == 1
        assert chunks[0].first_section_id == "m2"
        assert "Customer Jane: \n" not in chunks[0].text


class TestCleanedChatwootMessages:
    """Chatwoot bodies that are null, HTML or markdown, cleaned by the connector."""

    def test_cleaned_sections_give_clean_chunk_text(self, e5: E5Tokenizer) -> None:
        contents = {
            "7001": None,
            "7002": "<p><strong>Счёт №55</strong> оплачен</p>",
            "7003": "**срочно** перезвоните",
        }
        sections = [
            section(clean_message_text(content), message_id)
            for message_id, content in contents.items()
        ]

        chunks = split_into_chunks(
            make_document(sections), e5, max_tokens=160, overlap_tokens=32
        )

        assert len(chunks) == 1
        assert chunks[0].text == (
            "Conversation #12 with Jane\n"
            "Customer Jane: Счёт №55 оплачен\n"
            "Customer Jane: срочно перезвоните"
        )
        assert chunks[0].first_section_id == "7002"

    def test_attachment_only_message_gives_no_chunk(self, e5: E5Tokenizer) -> None:
        sections = [section(clean_message_text(None), "7001")]

        chunks = split_into_chunks(
            make_document(sections), e5, max_tokens=160, overlap_tokens=32
        )

        assert chunks == []


def test_default_sizes_leave_room_for_overlap() -> None:
    assert 0 < DEFAULT_OVERLAP_TOKENS < DEFAULT_MAX_TOKENS


def test_tokenizers_match_protocol() -> None:
    tokenizers: list[Tokenizer] = [Utf8ByteBound(), E5Tokenizer()]

    assert all(tokenizer.count("abc") > 0 for tokenizer in tokenizers)


class CountingTokenizer:
    """Wraps a tokenizer and counts the calls to `count`."""

    def __init__(self, inner: Tokenizer) -> None:
        self.inner = inner
        self.calls = 0

    def count(self, text: str) -> int:
        self.calls += 1
        return self.inner.count(text)


class WordSquareTokenizer:
    """Counts words plus a term that grows with the square of the word count.

    Joined texts count more than their parts suggest, so the chunker's estimate
    from the parts is too low and it has to shrink its runs.
    """

    def count(self, text: str) -> int:
        words = len(text.split())
        return 2 + words + words * words // 40


class SharedPrefixTokenizer:
    """Counts words, but a run of lines that start alike counts less.

    Joined texts count fewer tokens than their parts suggest, so the chunker's
    estimate is too high.
    """

    def count(self, text: str) -> int:
        lines = text.split("\n")
        repeats = sum(1 for line in lines[1:] if line.startswith("Customer"))
        return 2 + len(text.split()) - repeats


class TestTokenizerCalls:
    """The chunker counts each text once and estimates joined texts from parts."""

    # Recounting every candidate chunk costs 30 to 36 calls per chunk on these
    # documents, and counting each text once costs 10 to 13.
    MAX_CALLS_PER_CHUNK = 16

    @pytest.mark.parametrize(
        "document",
        [
            conversation(ENGLISH_WORDS, 21, messages=120),
            make_document(
                [
                    section(
                        make_sentences(RUSSIAN_WORDS, 400, seed=22),
                        "description",
                        "author",
                        "Ivan",
                    )
                ],
                title="ENG-7",
            ),
        ],
        ids=["conversation", "long-description"],
    )
    def test_calls_per_chunk_bounded(
        self, e5: E5Tokenizer, document: SourceDocument
    ) -> None:
        tokenizer = CountingTokenizer(e5)

        chunks = split_into_chunks(
            document, tokenizer, max_tokens=160, overlap_tokens=32
        )

        assert len(chunks) > 50
        assert tokenizer.calls <= self.MAX_CALLS_PER_CHUNK * len(chunks)

    @pytest.mark.parametrize(
        "tokenizer",
        [WordSquareTokenizer(), SharedPrefixTokenizer()],
        ids=["estimate-low", "estimate-high"],
    )
    def test_wrong_estimates_keep_limits(self, tokenizer: Tokenizer) -> None:
        document = conversation(ENGLISH_WORDS, 23, messages=40)

        chunks = split_into_chunks(
            document, tokenizer, max_tokens=60, overlap_tokens=12
        )

        assert len(chunks) > 5
        for chunk in chunks:
            assert tokenizer.count(chunk.text) <= 60
            assert chunk.token_count == tokenizer.count(chunk.text)
        expected = " ".join(expected_lines(document)).split()
        assert words_without_overlap(chunks) == expected

    def test_wrong_estimates_keep_overlap_limit(self) -> None:
        tokenizer = WordSquareTokenizer()
        document = conversation(ENGLISH_WORDS, 24, messages=40)

        chunks = split_into_chunks(
            document, tokenizer, max_tokens=60, overlap_tokens=12
        )

        for previous, current in zip(chunks, chunks[1:], strict=False):
            prefix = overlap_prefix(previous, current)
            assert prefix
            assert tokenizer.count(prefix) <= 12
