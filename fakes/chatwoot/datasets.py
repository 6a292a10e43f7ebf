"""Loaders that fill a store from public support-dialogue files, and the demo set.

Each real dialogue becomes one conversation with its own made-up contact
(`<dataset>-customer<N>@example.com`, N the dialogue's 1-based position in
the file), so no personal data enters the store. Statuses cycle by position
(see `status_for_index`). Times start on 2026-11-01, or just after the
newest record already in the store, so a load is the same on every run.
The files are read where they lie and never copied.

Every loader returns the display ids of the conversations it created, in
file order, and raises ValueError naming the file when its layout is not
the expected one.
"""

import csv
import json
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fakes.chatwoot.demo import generate_demo
from fakes.chatwoot.dialogues import (
    ContactSpec,
    DialogueSpec,
    TurnSpec,
    chat_turns,
    insert_dialogues,
    spaced_starts,
    status_for_index,
    timeline_start,
)
from fakes.chatwoot.models import INCOMING, OUTGOING
from fakes.chatwoot.people import draw_name
from fakes.chatwoot.store import ChatwootStore

__all__ = ["generate_demo", "load_banking", "load_bitext", "load_multiwoz"]

SGD_SPEAKERS = {"USER": INCOMING, "SYSTEM": OUTGOING}
BITEXT_COLUMNS = ("instruction", "response", "intent", "category")
CYRILLIC = re.compile("[а-яё]", re.IGNORECASE)
# Seconds between the starts of two consecutive conversations of a data set.
CHAT_START_GAPS = (300, 900)
QUESTION_START_GAPS = (60, 240)


def load_banking(
    store: ChatwootStore, path: Path | str, limit: int | None = None
) -> list[int]:
    """Load Schema-Guided Dialogue banking dialogues (a JSON array) into store.

    USER turns become incoming messages from the contact and SYSTEM turns
    outgoing messages from a "Bank assistant" agent. The dialogue's
    `services` become labels, and `dialogue_id` is kept as
    `additional_attributes.source_id`.
    """
    records = _read_json_list(Path(path))[:limit]
    agent = store.ensure_agent("Bank assistant", "bank.assistant@example.com")
    inbox = store.ensure_inbox("Bank chat", "Channel::WebWidget")
    rng = random.Random("sgd-banks")
    starts = spaced_starts(rng, timeline_start(store), len(records), CHAT_START_GAPS)
    dialogues = [
        DialogueSpec(
            contact=_customer(rng, "sgd", index, "en"),
            turns=_sgd_turns(rng, record, path),
            start=starts[index],
            status=status_for_index(index),
            labels=tuple(str(s).lower() for s in record.get("services", [])),
            agent_id=agent.id,
            assignee_id=_assignee(index, agent.id),
            additional_attributes={
                "source_dataset": "sgd",
                "source_id": record.get("dialogue_id"),
            },
        )
        for index, record in enumerate(records)
    ]
    return insert_dialogues(store, dialogues, inbox_id=inbox.id)


def load_multiwoz(
    store: ChatwootStore,
    path: Path | str,
    limit: int | None = None,
    offset: int = 0,
) -> list[int]:
    """Load MultiWOZ dialogues from a text file in Russian or English into store.

    Blank lines separate the dialogues. Their lines alternate customer and
    agent, the customer first. The language, found from the text, becomes
    a label next to "multiwoz". offset skips that many dialogues.
    """
    blocks = _read_dialogue_blocks(Path(path))
    chosen = blocks[offset:][:limit]
    language = "ru" if CYRILLIC.search(" ".join(blocks[0])) else "en"
    agent = store.ensure_agent("Town information centre", "towninfo@example.com")
    inbox = store.ensure_inbox("Town information", "Channel::Api")
    rng = random.Random(f"multiwoz-{language}-{offset}")
    starts = spaced_starts(rng, timeline_start(store), len(chosen), CHAT_START_GAPS)
    dialogues = [
        DialogueSpec(
            contact=_customer(rng, f"multiwoz-{language}", offset + i, language),
            turns=chat_turns(rng, lines),
            start=starts[i],
            status=status_for_index(offset + i),
            labels=("multiwoz", language),
            agent_id=agent.id,
            assignee_id=_assignee(offset + i, agent.id),
            additional_attributes={
                "source_dataset": f"multiwoz-{language}",
                "source_id": str(offset + i + 1),
            },
        )
        for i, lines in enumerate(chosen)
    ]
    return insert_dialogues(store, dialogues, inbox_id=inbox.id)


def load_bitext(
    store: ChatwootStore, path: Path | str, limit: int | None = None
) -> list[int]:
    """Load the Bitext customer-support CSV into store, one row per conversation.

    `instruction` is the incoming message and `response` the outgoing reply;
    `intent` and the lower-cased `category` become labels.
    """
    rows = _read_bitext_rows(Path(path), limit)
    agent = store.ensure_agent("Support agent", "support.agent@example.com")
    inbox = store.ensure_inbox("Support email", "Channel::Email")
    rng = random.Random("bitext")
    starts = spaced_starts(rng, timeline_start(store), len(rows), QUESTION_START_GAPS)
    dialogues = [
        DialogueSpec(
            contact=_customer(rng, "bitext", index, "en"),
            turns=chat_turns(rng, [row["instruction"], row["response"]]),
            start=starts[index],
            status=status_for_index(index),
            labels=(row["intent"], row["category"].lower()),
            agent_id=agent.id,
            assignee_id=_assignee(index, agent.id),
            additional_attributes={"source_dataset": "bitext"},
        )
        for index, row in enumerate(rows)
    ]
    return insert_dialogues(store, dialogues, inbox_id=inbox.id)


def _customer(
    rng: random.Random, dataset: str, index: int, language: str
) -> ContactSpec:
    number = index + 1
    return ContactSpec(
        key=f"{dataset}-{number}",
        name=draw_name(rng, language),
        email=f"{dataset}-customer{number}@example.com",
    )


def _assignee(index: int, agent_id: int) -> int | None:
    # Pending conversations wait for an agent, and one in five others has none yet.
    if status_for_index(index) == "pending" or index % 5 == 4:
        return None
    return agent_id


def _sgd_turns(
    rng: random.Random, record: dict[str, Any], path: Path | str
) -> tuple[TurnSpec, ...]:
    turns = record.get("turns")
    if not isinstance(turns, list):
        raise ValueError(f"{path}: dialogue {record.get('dialogue_id')} has no turns")
    specs = []
    for turn in turns:
        speaker = turn.get("speaker")
        if speaker not in SGD_SPEAKERS:
            raise ValueError(
                f"{path}: unknown speaker {speaker!r}; expected USER or SYSTEM"
            )
        specs.append(
            TurnSpec(
                SGD_SPEAKERS[speaker], str(turn["utterance"]), rng.randint(20, 150)
            )
        )
    return tuple(specs)


def _read_json_list(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ValueError(f"{path}: expected a JSON array of dialogue objects")
    return data


def _read_dialogue_blocks(path: Path) -> list[list[str]]:
    text = path.read_text(encoding="utf-8")
    blocks = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines:
            blocks.append(lines)
    if not blocks:
        raise ValueError(f"{path}: no dialogues found")
    return blocks


def _read_bitext_rows(path: Path, limit: int | None) -> Sequence[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in BITEXT_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing CSV columns {missing}")
        rows: list[dict[str, str]] = []
        for row in reader:
            if limit is not None and len(rows) >= limit:
                break
            rows.append(row)
    return rows
