"""Answers built from retrieved evidence, each sentence citing its source.

The extractive answer needs no model: it quotes the evidence sentences that
share the most word stems with the question. The LLM answer asks a chat model
to answer from the numbered evidence and checks its citations, so the caller
can fall back to the extractive answer when the model fails.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import openai
from openai import AsyncOpenAI

from services.rag.chunking import ROLE_LABELS
from services.rag.errors import AnswerProviderUnavailable

NO_EVIDENCE_TEXT = "No evidence was found for this question."
# Sentences quoted when no evidence sentence shares a word with the question.
FALLBACK_SENTENCES = 2
STEM_LENGTH = 5

# Function words that would match almost every sentence.
STOP_WORDS = frozenset(
    {"the", "and", "for", "are", "was", "what", "when", "how", "who", "with"}
    | {"это", "как", "что", "где", "кто", "или", "для", "при", "его", "она"}
)

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_SPEAKER = re.compile(
    r"^(?:" + "|".join(ROLE_LABELS.values()) + r")(?: [^:\n]{1,60})?:\s+"
)
_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_FINAL_PUNCTUATION = re.compile(r"[.!?…]+$")

LLM_INSTRUCTIONS = (
    "You answer questions about a company's customer conversations, issues and"
    " deals. Use only the numbered evidence below the question. After every"
    " sentence, cite the evidence it relies on by number in square brackets,"
    " for example [1] or [2][3]. If the evidence does not answer the question,"
    " say so in one sentence and cite the closest evidence. Answer in the"
    " language of the question, in at most four sentences."
)


@dataclass(frozen=True)
class EvidenceItem:
    """One retrieved chunk shown to the user under its citation number."""

    number: int
    chunk_id: str
    source_type: str
    external_id: str
    title: str
    text: str
    score: float


@dataclass(frozen=True)
class Answer:
    """Answer text with the evidence numbers it cites."""

    text: str
    citations: list[int]
    method: Literal["extractive", "llm"]


@dataclass(frozen=True)
class _Candidate:
    sentence: str
    number: int
    rank: int
    position: int
    overlap: int


def stems(text: str) -> set[str]:
    """Return the crude stems of a text's words, for Russian and English.

    Words are lowercased, "ё" becomes "е", and words of 5 or more letters are
    cut to their first 5, which matches most inflected forms of one word.
    Words under 3 characters and common function words are dropped, but
    numbers are kept.
    """
    words = _WORD.findall(text.lower().replace("ё", "е"))
    return {
        word[:STEM_LENGTH]
        for word in words
        if (len(word) >= 3 or word.isdigit()) and word not in STOP_WORDS
    }


def split_sentences(text: str) -> list[str]:
    """Split evidence text into sentences, without speaker labels."""
    sentences: list[str] = []
    for line in text.splitlines():
        line = _SPEAKER.sub("", line.strip())
        sentences += [part for part in _SENTENCE_END.split(line) if part.strip()]
    return sentences


def build_extractive_answer(
    question: str, evidence: Sequence[EvidenceItem], *, max_sentences: int = 3
) -> Answer:
    """Quote the evidence sentences that best match the question, with citations.

    Sentences are ranked by the number of question stems they contain, then by
    evidence rank and position. When no sentence shares a stem, the answer
    quotes the start of the best evidence, so retrieved evidence always gives
    a non-empty answer.
    """
    if max_sentences < 1:
        raise ValueError(f"max_sentences must be at least 1, got {max_sentences}")
    if not evidence:
        return Answer(NO_EVIDENCE_TEXT, [], "extractive")
    candidates = _candidates(stems(question), evidence)
    chosen = [c for c in candidates if c.overlap > 0]
    chosen.sort(key=lambda c: (-c.overlap, c.rank, c.position))
    if not chosen:
        chosen = [c for c in candidates if c.rank == 0][:FALLBACK_SENTENCES]
    chosen = _distinct(chosen)[:max_sentences]
    text = " ".join(_cite(c.sentence, c.number) for c in chosen)
    citations = list(dict.fromkeys(c.number for c in chosen))
    return Answer(text, citations, "extractive")


def _candidates(
    question_stems: set[str], evidence: Sequence[EvidenceItem]
) -> list[_Candidate]:
    return [
        _Candidate(
            sentence=sentence,
            number=item.number,
            rank=rank,
            position=position,
            overlap=len(stems(sentence) & question_stems),
        )
        for rank, item in enumerate(evidence)
        for position, sentence in enumerate(split_sentences(item.text))
    ]


def _distinct(candidates: list[_Candidate]) -> list[_Candidate]:
    """Drop repeated sentences, which overlapping chunks produce."""
    seen: set[str] = set()
    result: list[_Candidate] = []
    for candidate in candidates:
        key = " ".join(candidate.sentence.split()).lower()
        if key not in seen:
            seen.add(key)
            result.append(candidate)
    return result


def _cite(sentence: str, number: int) -> str:
    """Put the citation before the sentence's final punctuation."""
    sentence = sentence.strip()
    match = _FINAL_PUNCTUATION.search(sentence)
    if match is None:
        return f"{sentence} [{number}]."
    return f"{sentence[: match.start()]} [{number}]{match.group()}"


def format_evidence(evidence: Sequence[EvidenceItem]) -> str:
    """Render the evidence as numbered one-line entries for a prompt."""
    lines = []
    for item in evidence:
        text = " ".join(item.text.split())
        lines.append(f"[{item.number}] {text}")
        lines.append(f"    source: {item.source_type} {item.external_id} {item.title}")
    return "\n".join(lines)


async def build_llm_answer(
    client: AsyncOpenAI,
    model: str,
    question: str,
    evidence: Sequence[EvidenceItem],
) -> Answer:
    """Ask a chat model to answer from the numbered evidence, with citations.

    Raises AnswerProviderUnavailable when the request fails, or when the
    answer is empty, cites nothing or cites a number not in the evidence.
    """
    if not evidence:
        return build_extractive_answer(question, evidence)
    prompt = f"Question: {question.strip()}\n\nEvidence:\n{format_evidence(evidence)}"
    try:
        response = await client.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": LLM_INSTRUCTIONS},
                {"role": "user", "content": prompt},
            ],
        )
    except openai.APIError as exc:
        raise AnswerProviderUnavailable(
            f"chat model {model} failed: {type(exc).__name__}: {exc.message}"
        ) from exc
    content = response.choices[0].message.content if response.choices else None
    text = (content or "").strip()
    citations = _checked_citations(model, text, {item.number for item in evidence})
    return Answer(text, citations, "llm")


def _checked_citations(model: str, text: str, numbers: set[int]) -> list[int]:
    if not text:
        raise AnswerProviderUnavailable(f"chat model {model} returned no text")
    cited = [
        int(number)
        for group in _CITATION.findall(text)
        for number in re.split(r"\s*,\s*", group)
    ]
    if not cited:
        raise AnswerProviderUnavailable(
            f"the reply of chat model {model} cites no evidence"
        )
    unknown = sorted(set(cited) - numbers)
    if unknown:
        raise AnswerProviderUnavailable(
            f"the reply of chat model {model} cites evidence {unknown}, which does"
            f" not exist. The evidence is numbered {min(numbers)} to {max(numbers)}"
        )
    return list(dict.fromkeys(cited))
