"""External ids: short printable text without URL syntax."""

import pytest

from services.connectors import external_ids
from services.connectors.errors import InvalidExternalId


@pytest.mark.parametrize(
    ("connector", "value"),
    [
        ("attio", "../../companies/records/0fd630f1"),
        ("attio", "abc?x=1"),
        ("attio", "abc#x"),
        ("attio", "a%2Fb"),
        ("chatwoot", "1/../2"),
        ("chatwoot", "abc"),
        ("chatwoot", "1.5"),
        ("linear", "ENG 1"),
        ("linear", "1\u0000"),
        ("linear", "   "),
        ("linear", "A" * 201),
    ],
)
def test_bad_ids_are_rejected(connector: str, value: str) -> None:
    with pytest.raises(InvalidExternalId):
        external_ids.check(connector, value)


@pytest.mark.parametrize(
    ("connector", "value"),
    [
        ("attio", "0fd630f1-f29d-4da9-953f-48f1a09f76b5"),
        ("linear", "ENG-123"),
        ("chatwoot", " 42 "),
    ],
)
def test_good_ids_pass(connector: str, value: str) -> None:
    assert external_ids.check(connector, value) == value.strip()


def test_long_id_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidExternalId) as raised:
        external_ids.check("linear", "B" * 8000)

    assert len(raised.value.message) < 200
    assert "8000 characters" in raised.value.message
