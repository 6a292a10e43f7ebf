"""Attio timestamps and the JSON shapes of attribute values.

Attio writes every timestamp in UTC with nine fractional digits, for example
"2023-01-01T15:00:00.000000000Z". The store keeps times as integer
nanoseconds since the Unix epoch and formats them only when it serializes.

`build_value` turns a plain Python value (a title, an id, a number) into the
type-specific fields of one value entry, in the full-object shapes that
`POST /v2/objects/{object}/records/query` returns.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JsonObject = dict[str, Any]

NANOSECONDS_PER_SECOND = 1_000_000_000

_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})"
    r"(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$"
)
_EMAIL = re.compile(r"^([^@\s]+)@([^@\s]+\.[^@\s]+)$")

# Attribute types that `build_value` accepts.
ATTRIBUTE_TYPES = (
    "text",
    "number",
    "checkbox",
    "date",
    "timestamp",
    "currency",
    "status",
    "select",
    "record-reference",
    "actor-reference",
    "personal-name",
    "email-address",
    "domain",
    "phone-number",
    "location",
)
LOCATION_FIELDS = (
    "line_1",
    "line_2",
    "line_3",
    "line_4",
    "locality",
    "region",
    "postcode",
    "country_code",
    "latitude",
    "longitude",
)


def format_timestamp(nanoseconds: int) -> str:
    """Format nanoseconds since the epoch as Attio does, with nine digits and Z."""
    seconds, fraction = divmod(nanoseconds, NANOSECONDS_PER_SECOND)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{fraction:09d}Z"


def parse_timestamp(text: str) -> int:
    """Parse an ISO 8601 date and time with a zone into nanoseconds since the epoch.

    Up to nine fractional digits are kept exactly. Raises ValueError for a
    date without a time or zone, which Attio's timestamp filters reject too.
    """
    match = _TIMESTAMP.match(text)
    if match is None:
        raise ValueError(
            f"invalid timestamp {text!r}; expected a full date and time with a zone,"
            " such as 2023-01-01T15:00:00.000000000Z"
        )
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    offset = "+00:00" if zone == "Z" else zone
    moment = datetime.fromisoformat(
        f"{year}-{month}-{day}T{hour}:{minute}:{second}{offset}"
    )
    nanos = int((fraction or "").ljust(9, "0"))
    return int(moment.timestamp()) * NANOSECONDS_PER_SECOND + nanos


def root_domain(domain: str) -> str:
    """Return the last two labels of a host name, such as example.com.

    NOTE: this ignores public suffixes, so "shop.example.co.uk" gives "co.uk"
    where a suffix-aware root domain would be "example.co.uk".
    """
    labels = domain.lower().split(".")
    return ".".join(labels[-2:])


@dataclass
class Option:
    """A status or select option of one attribute."""

    option_id: str
    title: str
    is_archived: bool = False
    celebration_enabled: bool = False


@dataclass
class AttributeSpec:
    """One attribute of an object: its slug, type and whether it takes several values.

    target_object is the object slug that a record-reference points to.
    options maps titles to the status or select options created so far.
    """

    slug: str
    attribute_type: str
    attribute_id: str
    multi: bool = False
    target_object: str | None = None
    options: dict[str, Option] = field(default_factory=dict)


@dataclass(frozen=True)
class IdContext:
    """The ids that status and select objects repeat in their own `id`."""

    workspace_id: str
    object_id: str


def build_value(
    attribute: AttributeSpec,
    raw: Any,
    context: IdContext,
    *,
    option: Option | None = None,
) -> JsonObject:
    """Return the type-specific fields of one value entry, without the time fields.

    raw is a plain value, which depends on the type:
    - text, personal-name, email-address, domain, phone-number: a string;
    - number: a number; currency: a number, or a dict with currency_value and
      currency_code;
    - record-reference: a record id; actor-reference: a workspace member id,
      or a dict with referenced_actor_type and referenced_actor_id;
    - timestamp: nanoseconds or an ISO 8601 string; location: a dict of fields.
    option is the status or select option that the store resolved from a
    title. Raises ValueError for a value that does not fit the type.
    """
    kind = attribute.attribute_type
    if kind in ("status", "select"):
        if option is None:
            raise ValueError(f"{attribute.slug}: a {kind} value needs an option")
        return _option_value(attribute, option, context)
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ValueError(f"{attribute.slug}: unsupported attribute type {kind!r}")
    fields = builder(attribute, raw)
    fields["attribute_type"] = kind
    return fields


def _option_value(
    attribute: AttributeSpec, option: Option, context: IdContext
) -> JsonObject:
    option_id_key = "status_id" if attribute.attribute_type == "status" else "option_id"
    body: JsonObject = {
        "id": {
            "workspace_id": context.workspace_id,
            "object_id": context.object_id,
            "attribute_id": attribute.attribute_id,
            option_id_key: option.option_id,
        },
        "title": option.title,
        "is_archived": option.is_archived,
    }
    if attribute.attribute_type == "status":
        body["celebration_enabled"] = option.celebration_enabled
        body["target_time_in_status"] = None
        return {"status": body, "attribute_type": "status"}
    return {"option": body, "attribute_type": "select"}


def _text(attribute: AttributeSpec, raw: Any) -> JsonObject:
    if not isinstance(raw, str):
        raise ValueError(f"{attribute.slug}: text value must be a string, not {raw!r}")
    return {"value": raw}


def _number(attribute: AttributeSpec, raw: Any) -> JsonObject:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValueError(
            f"{attribute.slug}: number value must be a number, not {raw!r}"
        )
    return {"value": raw}


def _checkbox(attribute: AttributeSpec, raw: Any) -> JsonObject:
    if not isinstance(raw, bool):
        raise ValueError(
            f"{attribute.slug}: checkbox value must be a bool, not {raw!r}"
        )
    return {"value": raw}


def _date(attribute: AttributeSpec, raw: Any) -> JsonObject:
    if not isinstance(raw, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        raise ValueError(
            f"{attribute.slug}: date value must be YYYY-MM-DD, not {raw!r}"
        )
    return {"value": raw}


def _timestamp(attribute: AttributeSpec, raw: Any) -> JsonObject:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return {"value": format_timestamp(raw)}
    if isinstance(raw, str):
        return {"value": format_timestamp(parse_timestamp(raw))}
    raise ValueError(
        f"{attribute.slug}: timestamp value must be nanoseconds or ISO text,"
        f" not {raw!r}"
    )


def _currency(attribute: AttributeSpec, raw: Any) -> JsonObject:
    code: str | None = "USD"
    amount = raw
    if isinstance(raw, dict):
        amount = raw.get("currency_value")
        code = raw.get("currency_code", "USD")
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise ValueError(
            f"{attribute.slug}: currency value must be a number, not {raw!r}"
        )
    # Attio stores at most four decimal places.
    return {"currency_value": round(amount, 4), "currency_code": code}


def _record_reference(attribute: AttributeSpec, raw: Any) -> JsonObject:
    if not isinstance(raw, str):
        raise ValueError(f"{attribute.slug}: record reference must be a record id")
    return {"target_object": attribute.target_object, "target_record_id": raw}


def _actor_reference(attribute: AttributeSpec, raw: Any) -> JsonObject:
    if isinstance(raw, dict):
        return {
            "referenced_actor_type": raw["referenced_actor_type"],
            "referenced_actor_id": raw.get("referenced_actor_id"),
        }
    if not isinstance(raw, str):
        raise ValueError(f"{attribute.slug}: actor reference must be a member id")
    return {"referenced_actor_type": "workspace-member", "referenced_actor_id": raw}


def _personal_name(attribute: AttributeSpec, raw: Any) -> JsonObject:
    if isinstance(raw, dict):
        first = str(raw.get("first_name", ""))
        last = str(raw.get("last_name", ""))
    elif isinstance(raw, str):
        first, _, last = raw.strip().partition(" ")
    else:
        raise ValueError(f"{attribute.slug}: name must be a string or a dict")
    full = " ".join(part for part in (first, last) if part)
    return {"first_name": first, "last_name": last, "full_name": full}


def _email_address(attribute: AttributeSpec, raw: Any) -> JsonObject:
    match = _EMAIL.match(raw) if isinstance(raw, str) else None
    if match is None:
        raise ValueError(f"{attribute.slug}: invalid email address {raw!r}")
    local, domain = match.group(1), match.group(2).lower()
    return {
        "original_email_address": raw,
        "email_address": f"{local.lower()}@{domain}",
        "email_domain": domain,
        "email_root_domain": root_domain(domain),
        "email_local_specifier": local.lower().split("+")[0],
    }


def _domain(attribute: AttributeSpec, raw: Any) -> JsonObject:
    if not isinstance(raw, str) or "." not in raw:
        raise ValueError(f"{attribute.slug}: invalid domain {raw!r}")
    domain = raw.lower()
    return {"domain": domain, "root_domain": root_domain(domain)}


def _phone_number(attribute: AttributeSpec, raw: Any) -> JsonObject:
    if isinstance(raw, dict):
        number, country = str(raw["phone_number"]), raw.get("country_code")
    elif isinstance(raw, str) and re.fullmatch(r"\+\d{7,15}", raw):
        number, country = raw, _calling_code_country(raw)
    else:
        raise ValueError(f"{attribute.slug}: phone number must be E.164, not {raw!r}")
    if not country:
        raise ValueError(
            f"{attribute.slug}: no country code known for {number}; pass a dict"
            " with phone_number and country_code"
        )
    return {
        "original_phone_number": number,
        "country_code": country,
        "phone_number": number,
    }


# Calling codes of the countries in the demo data. Attio always sends a country code.
_CALLING_CODES = {
    "+1": "US",
    "+7": "RU",
    "+31": "NL",
    "+44": "GB",
    "+49": "DE",
    "+353": "IE",
}


def _calling_code_country(number: str) -> str | None:
    for length in (4, 3, 2):
        country = _CALLING_CODES.get(number[:length])
        if country:
            return country
    return None


def _location(attribute: AttributeSpec, raw: Any) -> JsonObject:
    if not isinstance(raw, dict):
        raise ValueError(f"{attribute.slug}: location must be a dict of fields")
    unknown = set(raw) - set(LOCATION_FIELDS)
    if unknown:
        raise ValueError(f"{attribute.slug}: unknown location fields {sorted(unknown)}")
    return {name: raw.get(name) for name in LOCATION_FIELDS}


_BUILDERS = {
    "text": _text,
    "number": _number,
    "checkbox": _checkbox,
    "date": _date,
    "timestamp": _timestamp,
    "currency": _currency,
    "record-reference": _record_reference,
    "actor-reference": _actor_reference,
    "personal-name": _personal_name,
    "email-address": _email_address,
    "domain": _domain,
    "phone-number": _phone_number,
    "location": _location,
}


def comparable(entry: JsonObject) -> Any:
    """Return the field of a value entry that shorthand filters and sorts compare.

    Timestamps compare as nanoseconds. Status and select compare by title.
    """
    kind = entry["attribute_type"]
    if kind == "timestamp":
        return parse_timestamp(entry["value"])
    return _comparable_field(entry, kind)


def _comparable_field(entry: JsonObject, kind: str) -> Any:
    fields = {
        "currency": "currency_value",
        "record-reference": "target_record_id",
        "actor-reference": "referenced_actor_id",
        "personal-name": "full_name",
        "email-address": "email_address",
        "domain": "domain",
        "phone-number": "phone_number",
        "location": "locality",
    }
    if kind == "status":
        return entry["status"]["title"]
    if kind == "select":
        return entry["option"]["title"]
    return entry.get(fields.get(kind, "value"))
