"""In-memory records of one fake Attio workspace, with the history of every value.

Each attribute of a record contains a list of value entries. Changing an
attribute closes the active entries that the new value drops (their
`active_until` becomes the change time) and appends new active entries, so
the history stays readable. Attio's record endpoints return only the active
entries, and so does this store unless `include_historic` is set: that switch
lets a test check that a client skips entries whose `active_until` is set.

Deleting a record removes it for good, as Attio's DELETE does, and closes
the entries on other records that pointed to it through a relationship.

Concurrency: every public method takes `lock`, a reentrant lock. The API
handlers hold it for a whole read, so a change from another thread (or from
churn) never splits a response.
"""

import copy
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fakes.attio.objects import (
    DEAL_STAGES,
    INVERSE_ATTRIBUTES,
    SINGULAR_NOUNS,
    SYSTEM_ATTRIBUTES,
    WORKSPACE_ID,
    build_attributes,
    object_id,
    option_id,
)
from fakes.attio.values import (
    AttributeSpec,
    IdContext,
    JsonObject,
    Option,
    build_value,
    format_timestamp,
)

# The actor that writes through the API when a caller names no other actor.
API_TOKEN_ACTOR: JsonObject = {
    "type": "api-token",
    "id": "3f9d3c4e-8a3b-4f7e-9c57-2a0e4d1b6f21",
}
SYSTEM_ACTOR: JsonObject = {"type": "system", "id": None}
_TIME_FIELDS = ("active_from", "active_until", "created_by_actor")


@dataclass
class StoredRecord:
    """One record: its object, id, creation time and every value entry per attribute."""

    object_slug: str
    record_id: str
    created_ns: int
    values: dict[str, list[JsonObject]]


@dataclass
class WorkspaceMember:
    """A user of the workspace, the target of actor-reference values such as owner."""

    member_id: str
    first_name: str
    last_name: str
    email_address: str
    created_ns: int
    access_level: str = "member"


class AttioStore:
    """Companies, people, deals and workspace members of one fake workspace."""

    def __init__(
        self,
        *,
        workspace_slug: str = "opsdesk-demo",
        clock: Callable[[], int] = time.time_ns,
        include_historic: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        self.workspace_slug = workspace_slug
        self.include_historic = include_historic
        self._clock = clock
        self._last_ns = 0
        self._attributes = {slug: build_attributes(slug) for slug in SINGULAR_NOUNS}
        self._records: dict[str, dict[str, StoredRecord]] = {
            slug: {} for slug in SINGULAR_NOUNS
        }
        self._members: dict[str, WorkspaceMember] = {}

    # Objects and attributes

    def object_slugs(self) -> list[str]:
        """Return the slugs of the objects this workspace has."""
        return list(self._records)

    def resolve_object(self, slug_or_id: str) -> str | None:
        """Return the slug for an object slug or object UUID, or None when unknown."""
        if slug_or_id in self._records:
            return slug_or_id
        for slug in self._records:
            if object_id(slug) == slug_or_id:
                return slug
        return None

    def attributes(self, object_slug: str) -> dict[str, AttributeSpec]:
        """Return the attribute definitions of an object, keyed by slug."""
        return self._attributes[object_slug]

    def now(self) -> int:
        """Return the store clock in nanoseconds, always later than the last call."""
        with self.lock:
            self._last_ns = max(self._clock(), self._last_ns + 1)
            return self._last_ns

    # Workspace members

    def add_member(
        self,
        first_name: str,
        last_name: str,
        email_address: str,
        *,
        member_id: str | None = None,
        access_level: str = "member",
        created_at: int | None = None,
    ) -> str:
        """Create a workspace member and return its id."""
        with self.lock:
            new_id = member_id or str(uuid.uuid4())
            if new_id in self._members:
                raise ValueError(f"workspace member {new_id} already exists")
            self._members[new_id] = WorkspaceMember(
                new_id,
                first_name,
                last_name,
                email_address,
                self.now() if created_at is None else created_at,
                access_level,
            )
            return new_id

    def members(self) -> list[WorkspaceMember]:
        """Return every workspace member in creation order."""
        with self.lock:
            return list(self._members.values())

    def get_member(self, member_id: str) -> WorkspaceMember | None:
        """Return the workspace member with this id, or None."""
        with self.lock:
            return self._members.get(member_id)

    # Records

    def add_record(
        self,
        object_slug: str,
        values: Mapping[str, Any],
        *,
        record_id: str | None = None,
        created_at: int | None = None,
        actor: JsonObject | None = None,
    ) -> str:
        """Create a record with values and return its id.

        values maps attribute slugs to a plain value, or to a list of them for
        multi-value attributes (see `values.build_value`). created_at is in
        nanoseconds and defaults to the store clock. It is also the
        active_from of the first values. Raises KeyError for an unknown object
        and ValueError for an unknown attribute, a bad value or a taken id.
        """
        with self.lock:
            records = self._records[object_slug]
            new_id = record_id or str(uuid.uuid4())
            if new_id in records:
                raise ValueError(f"{object_slug} record {new_id} already exists")
            created = self.now() if created_at is None else created_at
            self._last_ns = max(self._last_ns, created)
            writer = actor or API_TOKEN_ACTOR
            record = StoredRecord(object_slug, new_id, created, values={})
            for slug in self._attributes[object_slug]:
                record.values[slug] = []
            records[new_id] = record
            self._set_system_values(record, writer)
            try:
                self._apply(record, values, at=created, actor=writer)
            except (KeyError, ValueError):
                del records[new_id]
                raise
            return new_id

    def update_record(
        self,
        object_slug: str,
        record_id: str,
        values: Mapping[str, Any],
        *,
        at: int | None = None,
        actor: JsonObject | None = None,
    ) -> None:
        """Change attributes of a record, keeping the replaced entries as history.

        A value given as None or [] clears the attribute. at (nanoseconds)
        defaults to the store clock. Raises KeyError for an unknown record.
        """
        with self.lock:
            record = self._require(object_slug, record_id)
            when = self.now() if at is None else at
            self._last_ns = max(self._last_ns, when)
            self._apply(record, values, at=when, actor=actor or API_TOKEN_ACTOR)

    def delete_record(self, object_slug: str, record_id: str) -> None:
        """Remove a record for good and close the references to it.

        Raises KeyError for an unknown record.
        """
        with self.lock:
            record = self._require(object_slug, record_id)
            at = self.now()
            for slug, entries in record.values.items():
                inverse = INVERSE_ATTRIBUTES.get((object_slug, slug))
                if inverse is None:
                    continue
                for entry in _active(entries):
                    self._unlink(inverse, entry["target_record_id"], record_id, at)
            del self._records[object_slug][record_id]

    def merge_records(
        self, object_slug: str, survivor_id: str, duplicate_id: str
    ) -> None:
        """Merge a duplicate into a survivor, then delete the duplicate.

        The survivor keeps its own single values and gains the duplicate's
        where it has none. Multi-value attributes get the union. Raises
        KeyError when either record is missing.
        """
        with self.lock:
            survivor = self._require(object_slug, survivor_id)
            duplicate = self._require(object_slug, duplicate_id)
            changes: dict[str, Any] = {}
            for slug, spec in self._attributes[object_slug].items():
                if slug in SYSTEM_ATTRIBUTES:
                    continue
                ours = [_raw_of(spec, e) for e in _active(survivor.values[slug])]
                theirs = [_raw_of(spec, e) for e in _active(duplicate.values[slug])]
                if spec.multi:
                    merged = ours + [raw for raw in theirs if raw not in ours]
                    if merged != ours:
                        changes[slug] = merged
                elif not ours and theirs:
                    changes[slug] = theirs[0]
            self.delete_record(object_slug, duplicate_id)
            self.update_record(object_slug, survivor_id, changes)

    def get_record(self, object_slug: str, record_id: str) -> StoredRecord | None:
        """Return the record, or None when the object or the record is unknown."""
        with self.lock:
            return self._records.get(object_slug, {}).get(record_id)

    def records(self, object_slug: str) -> list[StoredRecord]:
        """Return the records of an object in insertion order."""
        with self.lock:
            return list(self._records[object_slug].values())

    def active_value(self, object_slug: str, record_id: str, attribute: str) -> Any:
        """Return the plain value of an attribute (a list for multi-value ones).

        Status and select values come back as titles. Returns None for an
        unset single-value attribute.
        """
        with self.lock:
            record = self._require(object_slug, record_id)
            spec = self._attributes[object_slug][attribute]
            raws = [_raw_of(spec, e) for e in _active(record.values[attribute])]
            if spec.multi:
                return raws
            return raws[0] if raws else None

    def counts(self) -> dict[str, int]:
        """Count the records of each object and the workspace members."""
        with self.lock:
            counts = {slug: len(records) for slug, records in self._records.items()}
            counts["workspace_members"] = len(self._members)
            return counts

    # Serialization in Attio's wire format

    def record_json(
        self, record: StoredRecord, *, include_historic: bool | None = None
    ) -> JsonObject:
        """Return the record as the record endpoints send it.

        Only active entries appear unless include_historic (default: the
        store's switch) is true. Every attribute of the object is present and
        an unset one is [].
        """
        historic = (
            self.include_historic if include_historic is None else include_historic
        )
        with self.lock:
            values = {
                slug: copy.deepcopy(entries if historic else _active(entries))
                for slug, entries in record.values.items()
            }
            noun = SINGULAR_NOUNS[record.object_slug]
            return {
                "id": {
                    "workspace_id": WORKSPACE_ID,
                    "object_id": object_id(record.object_slug),
                    "record_id": record.record_id,
                },
                "created_at": format_timestamp(record.created_ns),
                # NOTE: a link into Attio's web app, as the real API sends. The fake
                # never requests it.
                "web_url": f"https://app.attio.com/{self.workspace_slug}/{noun}/"
                f"{record.record_id}",
                "values": values,
            }

    def attribute_history(
        self, record: StoredRecord, attribute: str, *, show_historic: bool
    ) -> list[JsonObject]:
        """Return an attribute's entries, oldest first by active_from.

        Raises KeyError for an attribute the object does not have.
        """
        with self.lock:
            entries = record.values[attribute]
            chosen = entries if show_historic else _active(entries)
            return copy.deepcopy(sorted(chosen, key=lambda e: e["active_from"]))

    def member_json(self, member: WorkspaceMember) -> JsonObject:
        """Return a workspace member as `GET /v2/workspace_members` sends it."""
        return {
            "id": {
                "workspace_id": WORKSPACE_ID,
                "workspace_member_id": member.member_id,
            },
            "first_name": member.first_name,
            "last_name": member.last_name,
            "avatar_url": None,
            "email_address": member.email_address,
            "created_at": format_timestamp(member.created_ns),
            "access_level": member.access_level,
        }

    # Churn

    def mutate(self, rng: random.Random) -> str:
        """Change a random deal's stage or value, or add a deal, and describe it."""
        with self.lock:
            deals = list(self._records["deals"].values())
            draw = rng.random()
            if not deals or draw < 0.2:
                return self._add_random_deal(rng)
            deal = rng.choice(deals)
            if draw < 0.6:
                current = self.active_value("deals", deal.record_id, "stage")
                stage = rng.choice([s for s in DEAL_STAGES if s != current])
                self.update_record("deals", deal.record_id, {"stage": stage})
                return f"moved deal {deal.record_id} to stage {stage}"
            amount = rng.randrange(500, 50_000, 50)
            self.update_record("deals", deal.record_id, {"value": amount})
            return f"set value of deal {deal.record_id} to {amount} USD"

    def _add_random_deal(self, rng: random.Random) -> str:
        companies = list(self._records["companies"])
        members = list(self._members)
        record_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        values: dict[str, Any] = {
            "name": f"New deal {record_id[:8]}",
            "stage": DEAL_STAGES[0],
            "value": rng.randrange(500, 50_000, 50),
        }
        if members:
            values["owner"] = rng.choice(members)
        if companies:
            values["associated_company"] = rng.choice(companies)
        self.add_record("deals", values, record_id=record_id)
        return f"created deal {record_id}"

    # Internals

    def _require(self, object_slug: str, record_id: str) -> StoredRecord:
        record = self.get_record(object_slug, record_id)
        if record is None:
            raise KeyError(f"{object_slug} record {record_id} not found")
        return record

    def _set_system_values(self, record: StoredRecord, actor: JsonObject) -> None:
        at = format_timestamp(record.created_ns)
        context = self._context(record.object_slug)
        specs = self._attributes[record.object_slug]
        creator: Any = {
            "referenced_actor_type": actor["type"] or "system",
            "referenced_actor_id": actor["id"],
        }
        for slug, raw in (("created_at", record.created_ns), ("created_by", creator)):
            entry = _entry(at, SYSTEM_ACTOR)
            entry.update(build_value(specs[slug], raw, context))
            record.values[slug] = [entry]

    def _apply(
        self,
        record: StoredRecord,
        values: Mapping[str, Any],
        *,
        at: int,
        actor: JsonObject,
    ) -> None:
        specs = self._attributes[record.object_slug]
        unknown = sorted(set(values) - set(specs))
        if unknown:
            raise ValueError(f"{record.object_slug} has no attributes {unknown}")
        read_only = sorted(set(values) & set(SYSTEM_ATTRIBUTES))
        if read_only:
            raise ValueError(f"attributes {read_only} are read-only")
        # Build every entry first, so that a bad value leaves the record unchanged.
        planned = []
        for slug, raw in values.items():
            spec = specs[slug]
            raws = _as_list(spec, raw)
            built = [self._build(record.object_slug, spec, item) for item in raws]
            planned.append((spec, built))
        for spec, built in planned:
            self._replace(record, spec, built, at=at, actor=actor)

    def _build(self, object_slug: str, spec: AttributeSpec, raw: Any) -> JsonObject:
        option = None
        if spec.attribute_type in ("status", "select"):
            option = self._option(spec, raw)
        if spec.attribute_type == "record-reference":
            target = self._records[spec.target_object or ""]
            if raw not in target:
                raise ValueError(
                    f"{spec.slug}: {spec.target_object} record {raw} not found"
                )
        return build_value(spec, raw, self._context(object_slug), option=option)

    def _option(self, spec: AttributeSpec, title: Any) -> Option:
        if not isinstance(title, str):
            raise ValueError(f"{spec.slug}: option must be a title, not {title!r}")
        option = spec.options.get(title)
        if option is not None:
            return option
        if spec.attribute_type == "status":
            raise ValueError(
                f"{spec.slug}: unknown status {title!r}; use {list(spec.options)}"
            )
        # Select options are created on first use, to keep the loaders short.
        option = Option(option_id(spec.attribute_id, title), title)
        spec.options[title] = option
        return option

    def _replace(
        self,
        record: StoredRecord,
        spec: AttributeSpec,
        built: list[JsonObject],
        *,
        at: int,
        actor: JsonObject,
    ) -> None:
        entries = record.values[spec.slug]
        stamp = format_timestamp(at)
        kept_keys = {_content_key(b) for b in built}
        for entry in _active(entries):
            if _content_key(entry) not in kept_keys:
                entry["active_until"] = stamp
                self._sync_inverse(record, spec, entry, linked=False, at=at)
        active_keys = {_content_key(e) for e in _active(entries)}
        for fields in built:
            if _content_key(fields) in active_keys:
                continue
            entry = _entry(stamp, actor)
            entry.update(fields)
            entries.append(entry)
            active_keys.add(_content_key(fields))
            self._sync_inverse(record, spec, entry, linked=True, at=at)

    def _sync_inverse(
        self,
        record: StoredRecord,
        spec: AttributeSpec,
        entry: JsonObject,
        *,
        linked: bool,
        at: int,
    ) -> None:
        inverse = INVERSE_ATTRIBUTES.get((record.object_slug, spec.slug))
        if inverse is None:
            return
        target_id = entry["target_record_id"]
        if linked:
            self._link(inverse, target_id, record.record_id, at)
        else:
            self._unlink(inverse, target_id, record.record_id, at)

    def _link(
        self, inverse: tuple[str, str], target_id: str, source_id: str, at: int
    ) -> None:
        object_slug, slug = inverse
        target = self._records[object_slug].get(target_id)
        if target is None:
            return
        active = _active(target.values[slug])
        if any(e["target_record_id"] == source_id for e in active):
            return
        spec = self._attributes[object_slug][slug]
        built = self._build(object_slug, spec, source_id)
        if spec.multi:
            # Appending directly keeps loading thousands of deals linear in time.
            entry = _entry(format_timestamp(at), SYSTEM_ACTOR)
            entry.update(built)
            target.values[slug].append(entry)
        else:
            self._replace(target, spec, [built], at=at, actor=SYSTEM_ACTOR)

    def _unlink(
        self, inverse: tuple[str, str], target_id: str, source_id: str, at: int
    ) -> None:
        object_slug, slug = inverse
        target = self._records[object_slug].get(target_id)
        if target is None:
            return
        stamp = format_timestamp(at)
        for entry in _active(target.values[slug]):
            if entry["target_record_id"] == source_id:
                entry["active_until"] = stamp

    def _context(self, object_slug: str) -> IdContext:
        return IdContext(WORKSPACE_ID, object_id(object_slug))


def _entry(active_from: str, actor: JsonObject) -> JsonObject:
    return {
        "active_from": active_from,
        "active_until": None,
        "created_by_actor": dict(actor),
    }


def _active(entries: Iterable[JsonObject]) -> list[JsonObject]:
    return [e for e in entries if e["active_until"] is None]


def _content_key(entry: JsonObject) -> str:
    content = {k: v for k, v in entry.items() if k not in _TIME_FIELDS}
    return repr(sorted(content.items()))


def _as_list(spec: AttributeSpec, raw: Any) -> list[Any]:
    if raw is None:
        return []
    if spec.multi:
        if not isinstance(raw, list | tuple):
            raise ValueError(f"{spec.slug} takes several values; pass a list")
        return list(raw)
    if isinstance(raw, list):
        if len(raw) > 1:
            raise ValueError(f"{spec.slug} takes one value, not {len(raw)}")
        return list(raw)
    return [raw]


def _raw_of(spec: AttributeSpec, entry: JsonObject) -> Any:
    """Return the plain value that would rebuild this entry."""
    kind = spec.attribute_type
    if kind == "status":
        return entry["status"]["title"]
    if kind == "select":
        return entry["option"]["title"]
    if kind == "record-reference":
        return entry["target_record_id"]
    if kind == "currency":
        return {
            "currency_value": entry["currency_value"],
            "currency_code": entry["currency_code"],
        }
    if kind == "personal-name":
        return {"first_name": entry["first_name"], "last_name": entry["last_name"]}
    if kind == "email-address":
        return entry["original_email_address"]
    if kind == "domain":
        return entry["domain"]
    if kind == "phone-number":
        return {
            "phone_number": entry["phone_number"],
            "country_code": entry["country_code"],
        }
    if kind == "actor-reference":
        return {
            "referenced_actor_type": entry["referenced_actor_type"],
            "referenced_actor_id": entry["referenced_actor_id"],
        }
    if kind == "location":
        return {
            k: v for k, v in entry.items() if k not in (*_TIME_FIELDS, "attribute_type")
        }
    return entry["value"]
