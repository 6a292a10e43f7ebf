"""The product's demo data set: 30 agency support conversations, generated.

Fifteen conversations are in English and fifteen in Russian, about billing,
refunds, project deadlines, bug reports and access problems. The plan below
fixes each conversation's script, length and status, so the set always has
12 resolved, 9 open, 5 pending and 4 snoozed conversations and five long
ones (24 to 45 messages). The seed picks names, numbers, dates, lengths and
the order of conversations, so one seed always yields the same data.
"""

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from fakes.chatwoot.demo_scripts import (
    GENERAL_EXCHANGES,
    RESOLVED_ACTIVITY,
    SCRIPTS,
    SNOOZE_LINES,
    Line,
    Script,
)
from fakes.chatwoot.dialogues import (
    ContactSpec,
    DialogueSpec,
    TurnSpec,
    insert_dialogues,
    spaced_starts,
    timeline_start,
)
from fakes.chatwoot.models import Agent
from fakes.chatwoot.people import Person, draw_people
from fakes.chatwoot.store import ChatwootStore

LONG_MESSAGES = (24, 45)
MEDIUM_EXCHANGES = (2, 4)
PEOPLE_PER_LANGUAGE = 12
# Conversations start 14 to 26 hours apart, so 30 of them span about a month.
START_GAPS = (14 * 3600, 26 * 3600)
AGENTS = {
    "en": (("Maria Lopez", "maria.lopez"), ("James Carter", "james.carter")),
    "ru": (("Ирина Белова", "irina.belova"), ("Павел Орлов", "pavel.orlov")),
}
COMPANIES = {
    "en": (
        "Harbor Lane Bakery", "Quill & Pine Books", "Northgate Dental",
        "Bluefin Logistics", "Copperleaf Yoga", "Meadowbrook Farms",
    ),
    "ru": (
        "ООО «Северный ветер»", "Пекарня «Колос»", "Студия йоги «Лотос»",
        "ООО «ТрансЛогистик»", "Книжный «Переплёт»", "Клиника «Дента Плюс»",
    ),
}  # fmt: skip
CITIES = {
    "en": ("Bristol", "Leeds", "Portland", "Austin"),
    "ru": ("Москва", "Казань", "Екатеринбург", "Новосибирск"),
}
PROJECTS = {
    "en": ("website redesign", "mobile app", "online store", "booking system"),
    "ru": (
        "редизайн сайта",
        "мобильное приложение",
        "интернет-магазин",
        "онлайн-запись",
    ),
}
RUSSIAN_MONTHS_GENITIVE = (
    "января", "февраля", "марта", "апреля", "мая", "июня", "июля",
    "августа", "сентября", "октября", "ноября", "декабря",
)  # fmt: skip


@dataclass(frozen=True)
class PlannedConversation:
    """One demo conversation: script key, size (short, medium, long), status."""

    script: str
    size: str
    status: str
    anonymous: bool = False


P = PlannedConversation
DEMO_PLAN = (
    P("billing-en", "short", "resolved"),
    P("billing-en", "medium", "open"),
    P("billing-en", "short", "pending"),
    P("refund-en", "medium", "resolved"),
    P("refund-en", "short", "snoozed"),
    P("refund-en", "short", "open"),
    P("deadline-en", "long", "open"),
    P("deadline-en", "medium", "snoozed"),
    P("deadline-en", "long", "resolved"),
    P("deadline-en", "short", "pending"),
    P("bug-en", "long", "resolved"),
    P("bug-en", "short", "open"),
    P("access-en", "short", "resolved"),
    P("access-en", "medium", "pending"),
    P("access-en", "short", "resolved"),
    P("billing-ru", "short", "resolved"),
    P("billing-ru", "medium", "open"),
    P("billing-ru", "short", "resolved"),
    P("refund-ru", "medium", "resolved"),
    P("refund-ru", "short", "pending"),
    P("refund-ru", "short", "open"),
    P("deadline-ru", "long", "resolved"),
    P("deadline-ru", "medium", "open"),
    P("deadline-ru", "short", "snoozed"),
    P("bug-ru", "long", "open"),
    P("bug-ru", "short", "resolved"),
    P("bug-ru", "medium", "pending"),
    P("access-ru", "short", "resolved", anonymous=True),
    P("access-ru", "medium", "snoozed"),
    P("access-ru", "short", "open"),
)


def generate_demo(store: ChatwootStore, seed: int = 7) -> list[int]:
    """Add the demo agents, contacts and conversations to store.

    Returns the display ids in DEMO_PLAN order. The same seed on an empty
    store always gives the same records, ids and times.
    """
    rng = random.Random(seed)
    agents = {
        language: [
            store.ensure_agent(name, f"{local}@example.com") for name, local in pairs
        ]
        for language, pairs in AGENTS.items()
    }
    inbox_ids = {
        "chat": store.ensure_inbox("Website chat", "Channel::WebWidget").id,
        "email": store.ensure_inbox("Agency email", "Channel::Email").id,
    }
    contacts = {language: _contacts(rng, language) for language in AGENTS}
    order = rng.sample(range(len(DEMO_PLAN)), len(DEMO_PLAN))
    starts = spaced_starts(rng, timeline_start(store), len(DEMO_PLAN), START_GAPS)
    dialogues = []
    for index, plan in enumerate(DEMO_PLAN):
        script = SCRIPTS[plan.script]
        language_agents = agents[script.language]
        dialogue = _dialogue(
            rng,
            plan,
            script,
            contact=_pick_contact(rng, contacts[script.language], index, plan),
            agent=language_agents[index % 2],
            other_agent=language_agents[(index + 1) % 2],
            start=starts[order[index]],
        )
        dialogues.append(replace(dialogue, inbox_id=inbox_ids[script.channel]))
    return insert_dialogues(store, dialogues)


def _contacts(rng: random.Random, language: str) -> list[ContactSpec]:
    people = draw_people(rng, language, PEOPLE_PER_LANGUAGE)
    return [
        _contact_spec(rng, language, number, person)
        for number, person in enumerate(people)
    ]


def _contact_spec(
    rng: random.Random, language: str, number: int, person: Person
) -> ContactSpec:
    # NANP numbers 555-0100 to 555-0199 are reserved for fiction.
    phone = (
        f"+1202555{number + 100:04d}" if language == "en" and number % 3 == 0 else None
    )
    return ContactSpec(
        key=f"demo-{language}-{number}",
        name=person.name,
        email=f"{person.email_local_part}@example.com",
        phone_number=phone,
        identifier=f"crm-{language}-{1000 + number}" if number % 4 == 1 else None,
        additional_attributes={
            "company_name": rng.choice(COMPANIES[language]),
            "city": rng.choice(CITIES[language]),
        },
    )


def _pick_contact(
    rng: random.Random,
    contacts: list[ContactSpec],
    index: int,
    plan: PlannedConversation,
) -> ContactSpec:
    if plan.anonymous:
        # A web-widget visitor who left no email: Chatwoot lists such contacts
        # nowhere, so they are seen only as a conversation's sender.
        return ContactSpec(
            key="demo-visitor", name=f"visitor-{rng.randint(1000, 9999)}", email=None
        )
    # Fifteen conversations per language share twelve contacts, so some
    # contacts return with a second conversation.
    return contacts[index % len(contacts)]


def _dialogue(
    rng: random.Random,
    plan: PlannedConversation,
    script: Script,
    *,
    contact: ContactSpec,
    agent: Agent,
    other_agent: Agent,
    start: int,
) -> DialogueSpec:
    fills = _fills(rng, script.language, contact, agent, other_agent, start)
    lines = _lines(rng, plan, script)
    long_waits = plan.size == "long"
    turns = tuple(_turn(rng, line, fills, long_waits) for line in lines)
    return DialogueSpec(
        contact=contact,
        turns=turns,
        start=start,
        status=plan.status,
        labels=script.labels,
        agent_id=agent.id,
        assignee_id=None if plan.status == "pending" else agent.id,
        priority=_priority(plan, script),
        additional_attributes={"source_dataset": "demo"},
    )


def _lines(rng: random.Random, plan: PlannedConversation, script: Script) -> list[Line]:
    ending = _ending(plan, script)
    fixed_count = len(script.opening) + len(ending)
    lines = list(script.opening)
    for question, answer in _exchanges(rng, plan, script, fixed_count):
        lines += [question, answer]
    return lines + ending


def _ending(plan: PlannedConversation, script: Script) -> list[Line]:
    if plan.status == "resolved":
        return [*script.closing, RESOLVED_ACTIVITY]
    if plan.status == "snoozed":
        return [SNOOZE_LINES[script.language]]
    return []


def _exchanges(
    rng: random.Random, plan: PlannedConversation, script: Script, fixed_count: int
) -> list[tuple[Line, Line]]:
    """Pick the middle exchanges, keeping each pool's story order.

    A long conversation gets enough exchanges to reach a random length in
    LONG_MESSAGES, counting the fixed_count opening and ending lines, unless
    the pools run out first.
    """
    if plan.size == "short":
        return []
    if plan.size == "medium":
        return list(script.exchanges[: rng.randint(*MEDIUM_EXCHANGES)])
    minimum, maximum = LONG_MESSAGES
    # Each exchange adds two messages, so aim one below an odd maximum.
    target = rng.randint(minimum, maximum - (maximum - fixed_count) % 2)
    exchange_count = -(-(target - fixed_count) // 2)
    topical = list(script.exchanges[:exchange_count])
    general_pool = GENERAL_EXCHANGES[script.language]
    general_count = min(max(exchange_count - len(topical), 0), len(general_pool))
    general_indexes = sorted(rng.sample(range(len(general_pool)), general_count))
    general = [general_pool[i] for i in general_indexes]
    return _interleave(rng, topical, general)


def _interleave(
    rng: random.Random, first: list[tuple[Line, Line]], second: list[tuple[Line, Line]]
) -> list[tuple[Line, Line]]:
    slots = sorted(rng.sample(range(len(first) + len(second)), len(second)))
    merged: list[tuple[Line, Line]] = []
    first_items, second_items = iter(first), iter(second)
    for position in range(len(first) + len(second)):
        source = second_items if slots and slots[0] == position else first_items
        if source is second_items:
            slots.pop(0)
        merged.append(next(source))
    return merged


def _turn(
    rng: random.Random, line: Line, fills: dict[str, str], long_waits: bool
) -> TurnSpec:
    # Chat replies come within 15 minutes, but long projects also wait 2 to 20
    # hours between some steps.
    if long_waits and rng.random() < 0.3:
        gap = rng.randint(2 * 3600, 20 * 3600)
    else:
        gap = rng.randint(40, 900)
    text = line.text.format_map(fills) if line.text is not None else None
    attachments = (line.attachment,) if line.attachment else ()
    return TurnSpec(line.message_type, text, gap, attachments)


def _priority(plan: PlannedConversation, script: Script) -> str | None:
    if "bug" in script.labels:
        return "urgent" if plan.size == "long" else "high"
    if "access" in script.labels and plan.status != "resolved":
        return "medium"
    return None


def _fills(
    rng: random.Random,
    language: str,
    contact: ContactSpec,
    agent: Agent,
    other_agent: Agent,
    start: int,
) -> dict[str, str]:
    colleague = draw_people(rng, language, 1)[0]
    amount = rng.randint(8, 90) * 50 if language == "en" else rng.randint(20, 180) * 500
    return {
        "customer": contact.name.split(" ")[0],
        "agent": agent.name,
        "other_agent": other_agent.name,
        "invoice": f"INV-{rng.randint(2040, 2990)}",
        "invoice_number": str(rng.randint(120, 980)),
        "amount": f"${amount:,}.00"
        if language == "en"
        else f"{amount:,} ₽".replace(",", " "),
        "refund": f"RF-{rng.randint(10000, 99999)}",
        "ticket": f"BUG-{rng.randint(100, 999)}",
        "project": rng.choice(PROJECTS[language]),
        "date": _format_date(start + rng.randint(5, 14) * 86400, language),
        "colleague_name": colleague.first_name,
        "colleague_email": f"{colleague.email_local_part}@example.com",
    }


def _format_date(seconds: int, language: str) -> str:
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    if language == "ru":
        return f"{moment.day} {RUSSIAN_MONTHS_GENITIVE[moment.month - 1]}"
    return f"{moment:%A}, {moment.day} {moment:%B}"
