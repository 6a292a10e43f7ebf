"""The entities reconciliation compares, per connector, and their traits."""

from dataclasses import dataclass

from gen.connectors.v1 import connectors_pb2 as connectors_pb

# Hash partitions of the id_snapshots table; one comparison query each.
PARTITIONS = 64


@dataclass(frozen=True)
class EntitySpec:
    connector: str
    entity: str
    # The CRM mirror has a row per record (Attio companies and deals).
    mirrored: bool = False
    # Records carry e-mail addresses, so one contact may sit under two ids.
    email_keyed: bool = False

    @property
    def key(self) -> str:
        return f"{self.connector}/{self.entity}"


ENTITIES = (
    EntitySpec("chatwoot", "contacts", email_keyed=True),
    EntitySpec("chatwoot", "conversations"),
    EntitySpec("chatwoot", "messages"),
    EntitySpec("linear", "issues"),
    # Companies come before deals: a deal's mirror row needs its company's.
    EntitySpec("attio", "companies", mirrored=True),
    EntitySpec("attio", "people", email_keyed=True),
    EntitySpec("attio", "deals", mirrored=True),
)
CONNECTORS = tuple(dict.fromkeys(spec.connector for spec in ENTITIES))

SOURCE, RAW, MIRROR = 0, 1, 2
SIDE_REQUESTS: dict[int, connectors_pb.IdSide] = {
    RAW: connectors_pb.ID_SIDE_RAW,
    MIRROR: connectors_pb.ID_SIDE_MIRROR,
}


def entities_of(connectors: list[str]) -> list[EntitySpec]:
    """Return the entities of the given connectors, in comparison order."""
    return [spec for spec in ENTITIES if spec.connector in connectors]
