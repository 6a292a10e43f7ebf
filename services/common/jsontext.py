"""JSON text of source records, written on every sync's hot path.

A sync serializes each record to store it and to hash its content. The
standard library's encoder dominated the CPU time of a sync, so records go
through orjson. The few values orjson rejects (integers beyond 64 bits,
non-string keys) fall back to the standard encoder, so any record Python's
own parser produced can still be stored.
"""

import hashlib
import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """Return compact JSON text of a parsed JSON value."""
    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def digest(value: Any) -> str:
    """Return a SHA-256 of the value's JSON with sorted keys.

    Equal values give equal digests whatever the order of their keys.
    """
    try:
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    return hashlib.sha256(text).hexdigest()
