"""The objects the fake serves and their attributes, as in a new Attio workspace.

Only the standard attributes that a CRM sync reads are modelled. Each
relationship pair (a deal's associated_company and a company's
associated_deals, for example) is kept in step by the store, as Attio keeps
both sides of a relationship attribute.
"""

import functools
import uuid

from fakes.attio.values import AttributeSpec, Option

# Namespace of the uuid5 ids of the fake's workspace, objects, attributes and options.
FAKE_NAMESPACE = uuid.UUID("6f0c3a52-5d0e-4b55-9a43-3f1f8e2a7c10")
WORKSPACE_ID = str(uuid.uuid5(FAKE_NAMESPACE, "workspace"))

# Attio's web_url uses the singular noun of the object, e.g. /acme/person/<id>.
SINGULAR_NOUNS = {"companies": "company", "people": "person", "deals": "deal"}

# The default stages of a new workspace's deals object.
DEAL_STAGES = ("Lead", "In Progress", "Won 🎉", "Lost")
# NOTE: assumes that a new workspace turns celebration on only for "Won 🎉".
CELEBRATED_STAGES = ("Won 🎉",)

# (slug, attribute_type, multi, target_object) per object.
_ATTRIBUTE_ROWS: dict[str, list[tuple[str, str, bool, str | None]]] = {
    "companies": [
        ("name", "text", False, None),
        ("domains", "domain", True, None),
        ("description", "text", False, None),
        ("categories", "select", True, None),
        ("primary_location", "location", False, None),
        ("team", "record-reference", True, "people"),
        ("associated_deals", "record-reference", True, "deals"),
    ],
    "people": [
        ("name", "personal-name", False, None),
        ("email_addresses", "email-address", True, None),
        ("job_title", "text", False, None),
        ("description", "text", False, None),
        ("company", "record-reference", False, "companies"),
        ("phone_numbers", "phone-number", True, None),
        ("primary_location", "location", False, None),
        ("associated_deals", "record-reference", True, "deals"),
    ],
    "deals": [
        ("name", "text", False, None),
        ("stage", "status", False, None),
        ("owner", "actor-reference", False, None),
        ("value", "currency", False, None),
        ("associated_people", "record-reference", True, "people"),
        ("associated_company", "record-reference", False, "companies"),
    ],
}
# Every object also has these two read-only attributes, set when a record is created.
SYSTEM_ATTRIBUTES = ("created_at", "created_by")

# Each side of a relationship and the attribute on the other side.
INVERSE_ATTRIBUTES = {
    ("deals", "associated_company"): ("companies", "associated_deals"),
    ("companies", "associated_deals"): ("deals", "associated_company"),
    ("deals", "associated_people"): ("people", "associated_deals"),
    ("people", "associated_deals"): ("deals", "associated_people"),
    ("people", "company"): ("companies", "team"),
    ("companies", "team"): ("people", "company"),
}


@functools.cache
def object_id(slug: str) -> str:
    """Return the fixed UUID of the object with this slug."""
    return str(uuid.uuid5(FAKE_NAMESPACE, f"object:{slug}"))


def option_id(attribute_id: str, title: str) -> str:
    """Return the fixed UUID of a status or select option."""
    return str(uuid.uuid5(uuid.UUID(attribute_id), title))


def build_attributes(slug: str) -> dict[str, AttributeSpec]:
    """Return fresh attribute definitions of one object, keyed by attribute slug."""
    rows = [
        *_ATTRIBUTE_ROWS[slug],
        ("created_at", "timestamp", False, None),
        ("created_by", "actor-reference", False, None),
    ]
    attributes: dict[str, AttributeSpec] = {}
    for attribute_slug, attribute_type, multi, target in rows:
        attribute_id = str(
            uuid.uuid5(FAKE_NAMESPACE, f"attribute:{slug}.{attribute_slug}")
        )
        attributes[attribute_slug] = AttributeSpec(
            slug=attribute_slug,
            attribute_type=attribute_type,
            attribute_id=attribute_id,
            multi=multi,
            target_object=target,
        )
    if slug == "deals":
        stage = attributes["stage"]
        for title in DEAL_STAGES:
            stage.options[title] = Option(
                option_id(stage.attribute_id, title),
                title,
                celebration_enabled=title in CELEBRATED_STAGES,
            )
    return attributes
