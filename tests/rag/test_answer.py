"""Answers from evidence: extractive, and through the fake chat API."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from openai import AsyncOpenAI

from fakes.openai import create_app, serve_in_thread
from services.rag.answer import (
    NO_EVIDENCE_TEXT,
    EvidenceItem,
    build_extractive_answer,
    build_llm_answer,
    split_sentences,
    stems,
)
from services.rag.errors import AnswerProviderUnavailable

API_KEY = "sk-test-answers"
PRO_CHUNK = "Переход на тариф Pro запланирован на 15 июля"


def item(number: int, text: str, external_id: str = "ENG-12") -> EvidenceItem:
    return EvidenceItem(
        number=number,
        chunk_id=f"chunk-{number}",
        source_type="linear_issue",
        external_id=external_id,
        title=f"Issue {external_id}",
        text=text,
        score=1.0 / number,
    )


class TestStems:
    def test_cuts_long_words_to_five_letters(self) -> None:
        assert stems("Переходом переходы") == {"перех"}

    def test_folds_yo_and_case(self) -> None:
        assert stems("Отчёт ОТЧЕТОВ") == {"отчет"}

    def test_keeps_short_words_and_numbers(self) -> None:
        assert stems("Pro на 15 июля") == {"pro", "15", "июля"}

    def test_drops_function_words(self) -> None:
        assert stems("что это когда") == {"когда"}


class TestSplitSentences:
    def test_strips_speaker_labels(self) -> None:
        text = "Customer Jane: Счёт не оплачен. Помогите!\nAgent Anna: Проверим."

        assert split_sentences(text) == ["Счёт не оплачен.", "Помогите!", "Проверим."]

    def test_keeps_title_line(self) -> None:
        assert split_sentences("ENG-12 Pro plan\nAuthor Ivan: Done") == [
            "ENG-12 Pro plan",
            "Done",
        ]


class TestExtractiveAnswer:
    def test_pro_question_cites_retrieved_chunk(self) -> None:
        answer = build_extractive_answer("когда переход на Pro?", [item(1, PRO_CHUNK)])

        assert answer.text == f"{PRO_CHUNK} [1]."
        assert answer.citations == [1]
        assert answer.method == "extractive"

    def test_evidence_without_shared_words_still_answers(self) -> None:
        evidence = [item(1, PRO_CHUNK), item(2, "Счёт №55 оплачен", "cw-7")]

        answer = build_extractive_answer("что с миграцией клиента?", evidence)

        assert answer.text == f"{PRO_CHUNK} [1]."
        assert answer.citations == [1]

    def test_no_evidence_says_so(self) -> None:
        answer = build_extractive_answer("когда переход на Pro?", [])

        assert answer.text == NO_EVIDENCE_TEXT
        assert answer.citations == []

    def test_best_matching_sentences_first(self) -> None:
        evidence = [
            item(1, "Клиент звонил вчера. Счёт №55 оплачен полностью."),
            item(2, "Счёт №55 оплачен 3 июля банковским переводом."),
        ]

        answer = build_extractive_answer("когда оплачен счёт №55?", evidence)

        assert answer.text == (
            "Счёт №55 оплачен полностью [1]."
            " Счёт №55 оплачен 3 июля банковским переводом [2]."
        )
        assert answer.citations == [1, 2]

    def test_more_shared_stems_outrank_evidence_rank(self) -> None:
        evidence = [
            item(1, "Тариф обсуждали на встрече."),
            item(2, "Переход на тариф Pro перенесён на август."),
        ]

        answer = build_extractive_answer("переход на тариф Pro", evidence)

        assert answer.text.startswith("Переход на тариф Pro перенесён на август [2].")

    def test_max_sentences_limits_output(self) -> None:
        text = "Pro один. Pro два. Pro три. Pro четыре."

        answer = build_extractive_answer("Pro", [item(1, text)], max_sentences=2)

        assert answer.text == "Pro один [1]. Pro два [1]."
        assert answer.citations == [1]

    def test_repeated_overlap_sentence_quoted_once(self) -> None:
        evidence = [item(1, "Возврат одобрен."), item(2, "Возврат одобрен.\nДругое.")]

        answer = build_extractive_answer("возврат", evidence)

        assert answer.text == "Возврат одобрен [1]."

    def test_speaker_label_not_quoted(self) -> None:
        text = "Conversation #7\nCustomer Jane: Прошу возврат за июль."

        answer = build_extractive_answer("возврат за июль", [item(1, text)])

        assert answer.text == "Прошу возврат за июль [1]."

    def test_question_mark_kept_after_citation(self) -> None:
        answer = build_extractive_answer("тариф", [item(1, "Можно сменить тариф?")])

        assert answer.text == "Можно сменить тариф [1]?"

    def test_zero_max_sentences_rejected(self) -> None:
        with pytest.raises(ValueError, match="max_sentences"):
            build_extractive_answer("x", [item(1, "x")], max_sentences=0)


@pytest.fixture
def fake_url() -> Iterator[str]:
    with serve_in_thread(create_app(api_key=API_KEY)) as url:
        yield url


@pytest.fixture
async def client(fake_url: str) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(api_key=API_KEY, base_url=f"{fake_url}/v1", max_retries=0)
    yield client
    await client.close()


async def set_faults(fake_url: str, **faults: object) -> None:
    async with httpx.AsyncClient(base_url=fake_url) as http:
        (await http.post("/__fake__/faults", json=faults)).raise_for_status()


class TestLlmAnswer:
    async def test_answer_cites_evidence(self, client: AsyncOpenAI) -> None:
        evidence = [item(1, PRO_CHUNK), item(2, "Счёт №55 оплачен", "cw-7")]

        answer = await build_llm_answer(
            client, "gpt-4o-mini", "когда переход на Pro?", evidence
        )

        assert answer.text == f"{PRO_CHUNK} [1]."
        assert answer.citations == [1]
        assert answer.method == "llm"

    async def test_unknown_citation_rejected(
        self, client: AsyncOpenAI, fake_url: str
    ) -> None:
        await set_faults(fake_url, chat_reply="Переход 15 июля [9].")

        with pytest.raises(AnswerProviderUnavailable, match=r"\[9\]"):
            await build_llm_answer(
                client, "gpt-4o-mini", "когда?", [item(1, PRO_CHUNK)]
            )

    async def test_uncited_answer_rejected(
        self, client: AsyncOpenAI, fake_url: str
    ) -> None:
        await set_faults(fake_url, chat_reply="Переход 15 июля.")

        with pytest.raises(AnswerProviderUnavailable, match="cites no evidence"):
            await build_llm_answer(
                client, "gpt-4o-mini", "когда?", [item(1, PRO_CHUNK)]
            )

    async def test_grouped_citations_accepted(
        self, client: AsyncOpenAI, fake_url: str
    ) -> None:
        await set_faults(fake_url, chat_reply="Оба факта верны [2, 1][2].")
        evidence = [item(1, PRO_CHUNK), item(2, "Счёт №55 оплачен", "cw-7")]

        answer = await build_llm_answer(client, "gpt-4o-mini", "что нового?", evidence)

        assert answer.citations == [2, 1]

    async def test_provider_failure_raises_for_fallback(
        self, client: AsyncOpenAI, fake_url: str
    ) -> None:
        await set_faults(fake_url, fail_next=1, status=503)

        with pytest.raises(AnswerProviderUnavailable) as caught:
            await build_llm_answer(
                client, "gpt-4o-mini", "когда?", [item(1, PRO_CHUNK)]
            )

        assert caught.value.retryable is True

    async def test_empty_evidence_gives_no_evidence_answer(
        self, client: AsyncOpenAI
    ) -> None:
        answer = await build_llm_answer(client, "gpt-4o-mini", "когда?", [])

        assert answer.text == NO_EVIDENCE_TEXT
        assert answer.citations == []
