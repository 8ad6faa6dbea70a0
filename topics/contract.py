"""Rules every upstream event must satisfy beyond its Avro shape.

Avro guarantees types and enum symbols; these checks catch what a well-typed but wrong event
would do to money and risk state: an empty tenant (whose read model would it update?), a
negative amount (a stake that pays the player), an unknown currency (unconvertible), an
occurred_at far in the future (it would close windows early for everyone after it), and a Kafka
key that is not the player (the event would land on a worker that does not own the player).
"""

from __future__ import annotations

import ipaddress
import re
import time
import uuid
from typing import Any

import pycountry

from topics.serde import DecodeError

ISO_4217: frozenset[str] = frozenset(c.alpha_3 for c in pycountry.currencies)
REQUIRED_IDS = ("event_id", "tenant_id", "brand_id", "jurisdiction", "player_id")


HASHED_FIELDS = ("instrument_hash", "device_hash")
_CARD = re.compile(r"[0-9][0-9 -]{11,22}[0-9]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# the form upstream sends; anything else is left to uuid.UUID, which also takes braces, a
# urn:uuid: prefix or no hyphens (a regex match costs a tenth of building the UUID)
_CANONICAL_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def looks_identifying(value: str) -> bool:
    """A raw PAN (13-19 digits passing Luhn), an e-mail or an IP address: personal data that
    only hashed identifiers may stand for in the pipeline."""
    if _CARD.fullmatch(value):
        digits = re.sub(r"[ -]", "", value)
        if 13 <= len(digits) <= 19 and _luhn(digits):
            return True
    if "@" in value and _EMAIL.fullmatch(value):
        return True
    if "." not in value and ":" not in value:
        return False  # no address text: IPv4 needs dots, IPv6 colons (a hex hash has neither)
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


def validate(
    record: dict[str, Any], key: bytes | None, max_skew_ms: int, now_ms: int | None = None
) -> None:
    """Raise DecodeError naming the first broken rule of an upstream event."""
    for name in REQUIRED_IDS:
        value = record.get(name)
        if not isinstance(value, str) or not value.strip():
            raise DecodeError("missing_field", f"{name} is empty")
    try:
        if not _CANONICAL_UUID.fullmatch(record["event_id"]):
            uuid.UUID(record["event_id"])
    except ValueError:
        raise DecodeError(
            "bad_event_id", f"event_id {record['event_id']!r} is not a UUID"
        ) from None
    if key is not None and key != record["player_id"].encode():
        raise DecodeError(
            "key_mismatch", f"Kafka key {key[:64]!r} is not the player_id {record['player_id']!r}"
        )
    for name, value in record.items():
        if (name.endswith("_minor") or name == "amount") and value is not None and value < 0:
            raise DecodeError("negative_amount", f"{name} = {value} is negative")
    for name in HASHED_FIELDS:
        value = record.get(name)
        if isinstance(value, str) and looks_identifying(value):
            raise DecodeError(
                "unhashed_identifier",
                f"{name} looks like a raw card number, e-mail or IP address; upstream must send "
                "a salted hash (the raw value is not echoed here)",
            )
    currency = record.get("currency")
    if currency is not None and currency not in ISO_4217:
        raise DecodeError("unknown_currency", f"currency {currency!r} is not an ISO 4217 code")
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if record["occurred_at"] > now_ms + max_skew_ms:
        raise DecodeError(
            "future_timestamp",
            f"occurred_at {record['occurred_at']} is {record['occurred_at'] - now_ms} ms ahead of "
            f"this worker's clock (allowed {max_skew_ms} ms, WAGERSTREAM_MAX_CLOCK_SKEW_MS)",
        )
