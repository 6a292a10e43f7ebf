"""Build a retrieval evaluation set from the public support dialogues.

The files are read at run time from `DEFAULT_DATA_DIR` beside the
repository and never copied. Every choice is drawn from `random.Random(seed)`,
so one seed and one size always give the same documents and questions.

Three groups of questions share one index:

- `intent-en`: Bitext rows carry an intent label. For each chosen intent,
  some rows are indexed as two-message conversations and other rows of the
  same intent give their customer message as a question. The relevant
  documents are the indexed conversations of that intent. The question's own
  row is never indexed.
- `dialogue-ru`: Russian MultiWOZ dialogues carry no intent label, so a
  question is the first customer message of six words or more, held out of
  its dialogue. The dialogue is indexed without that message and is the only
  relevant document.
- `cross-en-ru`: the English MultiWOZ file is aligned with the Russian one
  dialogue for dialogue and line for line. The English line at the position of
  a held-out Russian line is searched against the same Russian dialogue.
"""

import csv
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.rag.documents import DocumentSection, SourceDocument

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT / ".." / "shared" / "data" / "real"
BITEXT_FILE = Path("support") / "bitext_customer_support_training.csv"
MULTIWOZ_RU_FILE = Path("support") / "russian_multiwoz_test_dialogues_001_ru.txt"
MULTIWOZ_EN_FILE = Path("support") / "russian_multiwoz_test_dialogues_001_en.txt"

SOURCE_TYPE = "chatwoot_conversation"
DEFAULT_SEED = 20261101
# Documents get update times spread over the 30 days before this instant, and
# the old system's recency term counts age from it, so no score depends on
# when the evaluation runs.
REFERENCE_TIME = datetime(2026, 11, 1, tzinfo=UTC)
SPREAD_DAYS = 30
# A held-out customer message must have at least this many words, so that
# "Спасибо, это всё" and similar closings never become questions.
MIN_QUESTION_WORDS = 6

GROUPS = ("intent-en", "dialogue-ru", "cross-en-ru")


@dataclass(frozen=True)
class EvalSize:
    """How many intents, dialogues and questions one evaluation set takes."""

    intents: int
    documents_per_intent: int
    questions_per_intent: int
    dialogues: int
    dialogue_questions: int


SIZES = {
    # 30 questions over 60 conversations (153 chunks), for the test suite.
    "slice": EvalSize(
        intents=5,
        documents_per_intent=4,
        questions_per_intent=2,
        dialogues=40,
        dialogue_questions=10,
    ),
    # 81 intent questions and 2 x 80 dialogue questions over 797 chunks.
    "full": EvalSize(
        intents=27,
        documents_per_intent=5,
        questions_per_intent=3,
        dialogues=200,
        dialogue_questions=80,
    ),
}


@dataclass(frozen=True)
class Question:
    """A search question with the external ids of the documents that answer it."""

    text: str
    group: str
    relevant: frozenset[str]


@dataclass(frozen=True)
class EvalSet:
    documents: list[SourceDocument]
    questions: list[Question]


def build_eval_set(
    size: EvalSize,
    *,
    project_id: str,
    data_dir: Path = DEFAULT_DATA_DIR,
    seed: int = DEFAULT_SEED,
) -> EvalSet:
    """Build the documents to index and the questions to ask, deterministically."""
    rng = random.Random(seed)
    documents: list[SourceDocument] = []
    questions: list[Question] = []
    _add_intent_questions(rng, size, project_id, data_dir, documents, questions)
    _add_dialogue_questions(rng, size, project_id, data_dir, documents, questions)
    return EvalSet(_with_update_times(rng, documents), questions)


def _add_intent_questions(
    rng: random.Random,
    size: EvalSize,
    project_id: str,
    data_dir: Path,
    documents: list[SourceDocument],
    questions: list[Question],
) -> None:
    rows_by_intent = _read_bitext(data_dir / BITEXT_FILE)
    per_intent = size.documents_per_intent + size.questions_per_intent
    eligible = sorted(
        intent for intent, rows in rows_by_intent.items() if len(rows) >= per_intent
    )
    if len(eligible) < size.intents:
        raise ValueError(
            f"{data_dir / BITEXT_FILE}: {len(eligible)} intents have at least"
            f" {per_intent} distinct customer messages; {size.intents} are needed"
        )
    for intent in rng.sample(eligible, size.intents):
        rows = rng.sample(rows_by_intent[intent], per_intent)
        indexed = rows[: size.documents_per_intent]
        relevant = frozenset(f"bitext-{number}" for number, _, _ in indexed)
        for number, instruction, response in indexed:
            documents.append(
                _document(
                    project_id,
                    f"bitext-{number}",
                    [
                        ("customer", "", instruction),
                        ("agent", "Support agent", response),
                    ],
                )
            )
        for _, instruction, _ in rows[size.documents_per_intent :]:
            questions.append(Question(instruction, "intent-en", relevant))


def _add_dialogue_questions(
    rng: random.Random,
    size: EvalSize,
    project_id: str,
    data_dir: Path,
    documents: list[SourceDocument],
    questions: list[Question],
) -> None:
    russian = _read_dialogue_blocks(data_dir / MULTIWOZ_RU_FILE)
    english = _read_dialogue_blocks(data_dir / MULTIWOZ_EN_FILE)
    if len(russian) != len(english):
        raise ValueError(
            f"{data_dir / MULTIWOZ_RU_FILE} has {len(russian)} dialogues and"
            f" {data_dir / MULTIWOZ_EN_FILE} has {len(english)}; the files must"
            " be parallel"
        )
    chosen = rng.sample(range(len(russian)), size.dialogues)
    questions_taken = 0
    for number in chosen:
        lines = russian[number]
        held_out = None
        if questions_taken < size.dialogue_questions:
            held_out = _pick_customer_line(lines)
        external_id = f"multiwoz-ru-{number + 1}"
        if held_out is not None:
            questions_taken += 1
            relevant = frozenset({external_id})
            questions.append(Question(lines[held_out], "dialogue-ru", relevant))
            # A dialogue whose line count differs between the files is not
            # aligned, so its English line would be a different message.
            if len(english[number]) == len(lines):
                text = english[number][held_out]
                questions.append(Question(text, "cross-en-ru", relevant))
        # Lines alternate customer and agent, the customer first.
        # NOTE: a few dialogues open with the agent's line (the 255th with "What
        # time would you like to depart?"), so there the roles are swapped.
        sections = [
            ("customer" if index % 2 == 0 else "agent", "", line)
            for index, line in enumerate(lines)
            if index != held_out
        ]
        documents.append(_document(project_id, external_id, sections))


def _pick_customer_line(lines: list[str]) -> int | None:
    """Return the position of the first customer message long enough to ask.

    The opening request names what the customer wants, as a search for the
    conversation would. A later message is often a bare "arrive by [06:00]"
    that dozens of dialogues share.
    """
    for index in range(0, len(lines), 2):
        if len(lines[index].split()) >= MIN_QUESTION_WORDS:
            return index
    return None


def _document(
    project_id: str, external_id: str, sections: list[tuple[str, str, str]]
) -> SourceDocument:
    return SourceDocument(
        project_id=project_id,
        source_type=SOURCE_TYPE,
        external_id=external_id,
        title=f"Conversation {external_id}",
        url="",
        updated_at=REFERENCE_TIME,
        deleted=False,
        sections=tuple(
            DocumentSection(
                author_role=role,
                author_name=name,
                text=text,
                created_at=None,
                section_id=f"{external_id}/{index}",
            )
            for index, (role, name, text) in enumerate(sections)
        ),
    )


def _with_update_times(
    rng: random.Random, documents: list[SourceDocument]
) -> list[SourceDocument]:
    """Give each document an update time drawn uniformly from the spread."""
    dated = []
    for document in documents:
        age = timedelta(seconds=rng.uniform(0, SPREAD_DAYS * 86400))
        dated.append(
            SourceDocument(
                project_id=document.project_id,
                source_type=document.source_type,
                external_id=document.external_id,
                title=document.title,
                url=document.url,
                updated_at=REFERENCE_TIME - age,
                deleted=document.deleted,
                sections=document.sections,
            )
        )
    return dated


def _read_bitext(path: Path) -> dict[str, list[tuple[int, str, str]]]:
    """Return (1-based row number, instruction, response) per intent.

    Of rows repeating a customer message, only the first is kept, so a
    question is never the exact text of an indexed message.
    """
    by_intent: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    seen: set[str] = set()
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for number, row in enumerate(reader, start=1):
            instruction = " ".join(row["instruction"].split())
            if not instruction or instruction.lower() in seen:
                continue
            seen.add(instruction.lower())
            by_intent[row["intent"]].append((number, instruction, row["response"]))
    if not by_intent:
        raise ValueError(f"{path}: no rows with an intent and instruction found")
    return by_intent


def _read_dialogue_blocks(path: Path) -> list[list[str]]:
    """Return the dialogues of a MultiWOZ text file, one list of lines each."""
    blocks = []
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines:
            blocks.append(lines)
    if not blocks:
        raise ValueError(f"{path}: no dialogues found")
    return blocks
