"""A small made-up CRM of a digital agency: 12 clients, 30 contacts, 40 deals.

About half of the names are Russian, in Cyrillic, so that search and
display are tested on both alphabets. Every deal has an owner among four
agency staff. Some deals have no company, and some moved through several
stages, so their stage carries history. The same seed always gives the same
records, ids and times.
"""

import random
import uuid
from datetime import UTC, datetime
from typing import Any

from fakes.attio.store import AttioStore
from fakes.attio.values import NANOSECONDS_PER_SECOND, JsonObject

DEMO_START = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
HOUR_NS = 3600 * NANOSECONDS_PER_SECOND
DEMO_DEALS = 40
PEOPLE_PER_COMPANY = (3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2)

# (name, domain, category, city, country code)
COMPANIES = (
    ("Ромашка Маркет", "romashka-market.example", "Retail", "Москва", "RU"),
    ("Лесной Кофе", "lesnoy-coffee.example", "Food & Drink", "Санкт-Петербург", "RU"),
    ("Волга Логистик", "volga-logistic.example", "Logistics", "Казань", "RU"),
    ("Сова Образование", "sova-edu.example", "Education", "Новосибирск", "RU"),
    ("Полярная Пекарня", "polar-bakery.example", "Food & Drink", "Мурманск", "RU"),
    ("Альтаир Финтех", "altair-fintech.example", "Finance", "Екатеринбург", "RU"),
    ("Brightloop Studio", "brightloop.example", "Media", "London", "GB"),
    ("Harbor & Pine Outfitters", "harborpine.example", "Retail", "Portland", "US"),
    ("Kestrel Bikes", "kestrel-bikes.example", "Manufacturing", "Utrecht", "NL"),
    ("Nordlicht Reisen", "nordlicht-reisen.example", "Travel", "Hamburg", "DE"),
    ("Tidewater Dental", "tidewater-dental.example", "Healthcare", "Norfolk", "US"),
    ("Meridian Clinics", "meridian-clinics.example", "Healthcare", "Dublin", "IE"),
)
PHONE_PREFIXES = {
    "RU": "+7",
    "GB": "+44",
    "US": "+1",
    "NL": "+31",
    "DE": "+49",
    "IE": "+353",
}
# (first name, last name, email user name) of the agency's own staff.
STAFF = (
    ("Анна", "Смирнова", "anna.smirnova"),
    ("Дмитрий", "Козлов", "dmitry.kozlov"),
    ("Laura", "Bennett", "laura.bennett"),
    ("Tomás", "Ortega", "tomas.ortega"),
)
AGENCY_DOMAIN = "northwind-agency.example"
# (first name, transliteration, is female)
RUSSIAN_FIRST_NAMES = (
    ("Алексей", "aleksei", False),
    ("Мария", "maria", True),
    ("Ирина", "irina", True),
    ("Сергей", "sergei", False),
    ("Ольга", "olga", True),
    ("Никита", "nikita", False),
    ("Екатерина", "ekaterina", True),
    ("Павел", "pavel", False),
)
# (male form, female form, transliteration of the male form)
RUSSIAN_LAST_NAMES = (
    ("Иванов", "Иванова", "ivanov"),
    ("Петров", "Петрова", "petrov"),
    ("Соколов", "Соколова", "sokolov"),
    ("Морозов", "Морозова", "morozov"),
    ("Волков", "Волкова", "volkov"),
    ("Лебедев", "Лебедева", "lebedev"),
)
ENGLISH_FIRST_NAMES = (
    "Olivia",
    "James",
    "Priya",
    "Lukas",
    "Chloe",
    "Mateo",
    "Hannah",
    "Sean",
)
ENGLISH_LAST_NAMES = (
    "Walsh",
    "Fischer",
    "Patel",
    "Brooks",
    "de Vries",
    "Murphy",
    "Keller",
)
JOB_TITLES = (
    "Head of Marketing",
    "CEO",
    "Product Manager",
    "Marketing Manager",
    "CTO",
    "Office Manager",
)
RUSSIAN_SERVICES = (
    "Редизайн сайта",
    "SEO-продвижение",
    "Фирменный стиль",
    "Чат-бот поддержки",
)
ENGLISH_SERVICES = (
    "Website redesign",
    "SEO retainer",
    "Brand identity",
    "Mobile app MVP",
)
FINAL_STAGES = ("Won 🎉", "Lost", "In Progress", "Lead")
STAGE_WEIGHTS = (4, 2, 3, 2)


def generate_demo(store: AttioStore, seed: int = 7) -> dict[str, int]:
    """Fill store with the agency CRM and return counts per object."""
    rng = random.Random(seed)
    clock = _DemoClock(rng)
    with store.lock:
        members = [
            store.add_member(
                first,
                last,
                f"{user}@{AGENCY_DOMAIN}",
                member_id=_random_id(rng),
                access_level="admin" if index == 0 else "member",
                created_at=clock.next(),
            )
            for index, (first, last, user) in enumerate(STAFF)
        ]
        company_ids = [_add_company(store, rng, clock, row) for row in COMPANIES]
        contacts = _add_people(store, rng, clock, company_ids)
        for index in range(DEMO_DEALS):
            _add_deal(store, rng, clock, index, members, company_ids, contacts)
    return {
        "companies": len(company_ids),
        "people": sum(len(ids) for ids in contacts),
        "workspace_members": len(members),
        "deals": DEMO_DEALS,
    }


class _DemoClock:
    """Creation times a few hours apart, each with its own nanosecond digits."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._now = int(DEMO_START.timestamp()) * NANOSECONDS_PER_SECOND

    def next(self) -> int:
        self._now += self._rng.randint(1, 6) * HOUR_NS + self._rng.randrange(HOUR_NS)
        return self._now


def _random_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _add_company(
    store: AttioStore, rng: random.Random, clock: _DemoClock, row: tuple[str, ...]
) -> str:
    name, domain, category, city, country = row
    return store.add_record(
        "companies",
        {
            "name": name,
            "domains": [domain],
            "description": f"{category} client of the agency, based in {city}.",
            "categories": [category],
            "primary_location": {"locality": city, "country_code": country},
        },
        record_id=_random_id(rng),
        created_at=clock.next(),
    )


def _add_people(
    store: AttioStore, rng: random.Random, clock: _DemoClock, company_ids: list[str]
) -> list[list[str]]:
    contacts: list[list[str]] = []
    for index, (company_id, count) in enumerate(
        zip(company_ids, PEOPLE_PER_COMPANY, strict=True)
    ):
        russian = COMPANIES[index][4] == "RU"
        domain = COMPANIES[index][1]
        ids = []
        for _ in range(count):
            first, last, user = _draw_name(rng, russian)
            values: dict[str, Any] = {
                "name": {"first_name": first, "last_name": last},
                "email_addresses": [f"{user}@{domain}"],
                "job_title": rng.choice(JOB_TITLES),
                "company": company_id,
            }
            if rng.random() < 0.5:
                prefix = PHONE_PREFIXES[COMPANIES[index][4]]
                values["phone_numbers"] = [f"{prefix}{rng.randrange(10**9, 10**10)}"]
            ids.append(
                store.add_record(
                    "people", values, record_id=_random_id(rng), created_at=clock.next()
                )
            )
        contacts.append(ids)
    return contacts


def _draw_name(rng: random.Random, russian: bool) -> tuple[str, str, str]:
    if russian:
        first, first_latin, female = rng.choice(RUSSIAN_FIRST_NAMES)
        male_last, female_last, last_latin = rng.choice(RUSSIAN_LAST_NAMES)
        last = female_last if female else male_last
        suffix = "a" if female else ""
        return first, last, f"{first_latin}.{last_latin}{suffix}"
    first = rng.choice(ENGLISH_FIRST_NAMES)
    last = rng.choice(ENGLISH_LAST_NAMES)
    return first, last, f"{first}.{last.replace(' ', '')}".lower()


def _add_deal(
    store: AttioStore,
    rng: random.Random,
    clock: _DemoClock,
    index: int,
    members: list[str],
    company_ids: list[str],
    contacts: list[list[str]],
) -> None:
    owner = rng.choice(members)
    actor: JsonObject = {"type": "workspace-member", "id": owner}
    # Every eighth deal is an inbound lead that is not linked to a company yet.
    company_index = None if index % 8 == 7 else rng.randrange(len(company_ids))
    russian = company_index is not None and COMPANIES[company_index][4] == "RU"
    service = rng.choice(RUSSIAN_SERVICES if russian else ENGLISH_SERVICES)
    values: dict[str, Any] = {
        "name": f"{COMPANIES[company_index][0]} – {service}"
        if company_index is not None
        else f"Inbound lead – {service}",
        "stage": "Lead",
        "owner": owner,
        "value": rng.randrange(20, 400) * 100,
    }
    if company_index is not None:
        values["associated_company"] = company_ids[company_index]
        people = contacts[company_index]
        values["associated_people"] = rng.sample(people, rng.randint(1, len(people)))
    record_id = store.add_record(
        "deals", values, record_id=_random_id(rng), created_at=clock.next(), actor=actor
    )
    final = rng.choices(FINAL_STAGES, weights=STAGE_WEIGHTS)[0]
    path = {"Lead": [], "In Progress": ["In Progress"]}.get(
        final, ["In Progress", final]
    )
    for stage in path:
        store.update_record(
            "deals", record_id, {"stage": stage}, at=clock.next(), actor=actor
        )
