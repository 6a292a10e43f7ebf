import json

from services.common import jsontext


def test_dumps_matches_the_standard_encoder_in_compact_form() -> None:
    value = {"b": [1, 2.5, "é\x00"], "a": None, "c": {"z": True}}
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert jsontext.dumps(value) == expected
    assert json.loads(jsontext.dumps(value)) == value


def test_values_orjson_refuses_still_serialize() -> None:
    assert jsontext.dumps({"n": 2**70}) == '{"n":1180591620717411303424}'
    assert jsontext.dumps({1: "a"}) == '{"1":"a"}'
    assert len(jsontext.digest({"n": 2**70})) == 64


def test_digest_ignores_key_order_and_sees_values() -> None:
    first = {"a": 1, "b": {"x": [1, 2], "y": "z"}}
    reordered = {"b": {"y": "z", "x": [1, 2]}, "a": 1}
    assert jsontext.digest(first) == jsontext.digest(reordered)
    assert jsontext.digest(first) != jsontext.digest({**first, "a": 2})
    assert jsontext.digest({"n": 2**70}) == jsontext.digest({"n": 2**70})
