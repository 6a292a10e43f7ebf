"""Loaders that fill an AttioStore: the public Maven CRM sample, and the demo set.

The Maven CRM sample (four CSV files, `maven_crm_*.csv`) becomes:
- companies from the accounts, one per row;
- a workspace member and a person record per sales agent: the member owns the
  agent's deals, and the person is the deal's associated person;
- deals from the sales pipeline. Rows without an account get no company.

Record ids are uuid5 values of the source keys, so a load gives the same ids
on every run. The files are read where they lie and never copied.
"""

import csv
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fakes.attio.demo import generate_demo
from fakes.attio.store import AttioStore
from fakes.attio.values import NANOSECONDS_PER_SECOND, JsonObject

__all__ = ["MAVEN_STAGES", "generate_demo", "load_maven_crm", "maven_record_id"]

MAVEN_NAMESPACE = uuid.UUID("0b6d7f6e-3c55-4f0f-8f5c-9d3c2a7e4b19")
ACCOUNTS_FILE = "maven_crm_accounts.csv"
TEAMS_FILE = "maven_crm_sales_teams.csv"
PIPELINE_FILE = "maven_crm_sales_pipeline.csv"
PRODUCTS_FILE = "maven_crm_products.csv"
# Maven's deal_stage values and the default Attio deal stages they become.
MAVEN_STAGES = {
    "Prospecting": "Lead",
    "Engaging": "In Progress",
    "Won": "Won 🎉",
    "Lost": "Lost",
}
# Companies and people get a creation date before the first engage_date (2016-10-20).
DIRECTORY_CREATED = "2016-10-01"
# Prospecting rows have no engage_date, so they are dated after the last close_date.
PROSPECTING_CREATED = "2018-01-02"
ENGAGE_HOUR = 9
CLOSE_HOUR = 17
# Spelling fixes for values of the sample data.
SECTOR_FIXES = {"technolgy": "technology"}
COUNTRY_FIXES = {"Philipines": "Philippines"}
COUNTRY_CODES = {
    "United States": "US",
    "Kenya": "KE",
    "Philippines": "PH",
    "Japan": "JP",
    "Italy": "IT",
    "Norway": "NO",
    "Korea": "KR",
    "Jordan": "JO",
    "Brazil": "BR",
    "Germany": "DE",
    "Panama": "PA",
    "Belgium": "BE",
    "Romania": "RO",
    "Poland": "PL",
    "China": "CN",
}
AGENT_EMAIL_DOMAIN = "maven-crm.example"


def maven_record_id(kind: str, key: str) -> str:
    """Return the fixed id of a Maven row. kind is company, person, deal or member."""
    return str(uuid.uuid5(MAVEN_NAMESPACE, f"{kind}:{key}"))


def load_maven_crm(
    store: AttioStore, data_dir: Path, limit: int | None = None
) -> dict[str, int]:
    """Load the Maven CRM files from data_dir into store and count what was added.

    Every account and sales agent is loaded. limit caps the deals, taken in
    file order. Returns counts under companies, people, workspace_members,
    deals and deals_without_company. Raises ValueError naming the file when
    a file lacks an expected column.
    """
    accounts = _read(
        data_dir / ACCOUNTS_FILE, ("account", "sector", "year_established")
    )
    agents = _read(data_dir / TEAMS_FILE, ("sales_agent", "manager", "regional_office"))
    pipeline = _read(
        data_dir / PIPELINE_FILE,
        ("opportunity_id", "sales_agent", "product", "account", "deal_stage"),
    )
    products = _read(data_dir / PRODUCTS_FILE, ("product",))
    with store.lock:
        company_ids = _load_companies(store, accounts)
        members, people = _load_agents(store, agents)
        product_names = _product_names(products)
        rows = pipeline if limit is None else pipeline[:limit]
        without_company = 0
        for index, row in enumerate(rows):
            if not row["account"]:
                without_company += 1
            _load_deal(store, row, index, company_ids, members, people, product_names)
    return {
        "companies": len(company_ids),
        "people": len(people),
        "workspace_members": len(members),
        "deals": len(rows),
        "deals_without_company": without_company,
    }


def _read(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = sorted(set(columns) - set(reader.fieldnames or ()))
        if missing:
            raise ValueError(f"{path}: missing CSV columns {missing}")
        return [
            {key: (value or "").strip() for key, value in row.items()} for row in reader
        ]


def _load_companies(
    store: AttioStore, accounts: list[dict[str, str]]
) -> dict[str, str]:
    created = _day_ns(DIRECTORY_CREATED, 8)
    company_ids: dict[str, str] = {}
    for index, row in enumerate(accounts):
        name = row["account"]
        sector = SECTOR_FIXES.get(row["sector"], row["sector"])
        country = COUNTRY_FIXES.get(
            row.get("office_location", ""), row.get("office_location", "")
        )
        values: dict[str, Any] = {
            "name": name,
            "domains": [company_domain(name)],
            "description": _company_description(row, sector, country),
            "categories": [sector.capitalize()] if sector else [],
        }
        if country:
            values["primary_location"] = {"country_code": COUNTRY_CODES.get(country)}
        company_ids[name] = store.add_record(
            "companies",
            values,
            record_id=maven_record_id("company", name),
            created_at=created + index,
        )
    return company_ids


def company_domain(name: str) -> str:
    """Derive a domain from a company name, e.g. "Gekko & Co" gives gekkoco.com."""
    return re.sub(r"[^a-z0-9]", "", name.lower()) + ".com"


def _company_description(row: dict[str, str], sector: str, country: str) -> str:
    parts = [f"{sector.capitalize()} company founded in {row['year_established']}."]
    if row.get("employees"):
        parts.append(f"{int(row['employees']):,} employees.")
    if row.get("revenue"):
        parts.append(f"Annual revenue {row['revenue']} million USD.")
    if country:
        parts.append(f"Office in {country}.")
    if row.get("subsidiary_of"):
        parts.append(f"Subsidiary of {row['subsidiary_of']}.")
    return " ".join(parts)


def _load_agents(
    store: AttioStore, agents: list[dict[str, str]]
) -> tuple[dict[str, str], dict[str, str]]:
    created = _day_ns(DIRECTORY_CREATED, 8)
    members: dict[str, str] = {}
    people: dict[str, str] = {}
    for index, row in enumerate(agents):
        name = row["sales_agent"]
        first, _, last = name.partition(" ")
        email = f"{first}.{last.replace(' ', '')}@{AGENT_EMAIL_DOMAIN}".lower()
        members[name] = store.add_member(
            first,
            last,
            email,
            member_id=maven_record_id("member", name),
            created_at=created + index,
        )
        people[name] = store.add_record(
            "people",
            {
                "name": {"first_name": first, "last_name": last},
                "email_addresses": [email],
                "job_title": "Sales Agent",
                "description": f"{row['regional_office']} regional office,"
                f" reports to {row['manager']}.",
            },
            record_id=maven_record_id("person", name),
            created_at=created + index,
        )
    return members, people


def _product_names(products: list[dict[str, str]]) -> dict[str, str]:
    # The pipeline spells "GTX Pro" as "GTXPro", so names are matched without spaces.
    return {row["product"].replace(" ", ""): row["product"] for row in products}


def _load_deal(
    store: AttioStore,
    row: dict[str, str],
    index: int,
    company_ids: dict[str, str],
    members: dict[str, str],
    people: dict[str, str],
    product_names: dict[str, str],
) -> None:
    stage = MAVEN_STAGES.get(row["deal_stage"])
    if stage is None:
        raise ValueError(
            f"unknown deal_stage {row['deal_stage']!r} in {row['opportunity_id']}"
        )

    product = product_names.get(row["product"].replace(" ", ""), row["product"])
    account = row["account"]
    name = (
        f"{account} – {product}" if account else f"{product} – {row['opportunity_id']}"
    )
    agent = row["sales_agent"]
    owner = members.get(agent)
    actor: JsonObject = {"type": "workspace-member", "id": owner}

    # The row index as nanoseconds keeps created_at unique within one day.
    created_day = row.get("engage_date") or PROSPECTING_CREATED
    created = _day_ns(created_day, ENGAGE_HOUR) + index
    # Won and Lost deals first sit in "In Progress", so their stage has history.
    closed = row["deal_stage"] in ("Won", "Lost")
    values: dict[str, Any] = {
        "name": name,
        "stage": MAVEN_STAGES["Engaging"] if closed else stage,
        "owner": owner,
        "associated_company": company_ids.get(account) if account else None,
        "associated_people": [people[agent]] if agent in people else [],
    }
    record_id = store.add_record(
        "deals",
        values,
        record_id=maven_record_id("deal", row["opportunity_id"]),
        created_at=created,
        actor=actor,
    )

    if closed:
        change: dict[str, Any] = {"stage": stage}
        if row.get("close_value"):
            change["value"] = float(row["close_value"])
        closed_at = _day_ns(row["close_date"], CLOSE_HOUR) + index
        store.update_record("deals", record_id, change, at=closed_at, actor=actor)


def _day_ns(day: str, hour: int) -> int:
    moment = datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)
    return int(moment.timestamp()) * NANOSECONDS_PER_SECOND
