"""Bad input lands in dlq.<topic> with reason and coordinates; later events still count."""

from __future__ import annotations

import os
import struct
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from sinks.read_models import model_key
from tests.samples import event

pytestmark = pytest.mark.integration


def bet(player: str, tenant: str, **overrides) -> dict:
    fields = {
        "occurred_at": int(time.time() * 1000),
        "tenant_id": tenant,
        "player_id": player,
        "trace_id": "trace-1",
        "bet_id": f"bet-{uuid.uuid4()}",
        "product": "casino",
        "provider": "netent",
        "market_id": None,
        "stake_minor": 250,
        "bonus_stake_minor": 0,
        "currency": "GBP",
        "odds": None,
        "event_start_at": None,
    }
    return event("bet_placed", **{**fields, **overrides})


def test_each_bad_input_goes_to_dlq_with_reason_and_processing_continues(
    worker, producer, serde, redis_client, stack
):
    tenant = f"t{uuid.uuid4().hex[:8]}"
    player = f"{tenant}-dlq"
    key = player.encode()
    good = serde.encode("bet.placed", bet(player, tenant))
    unknown_fp = b"\xc3\x01" + os.urandom(8) + good[10:]
    cases = {
        "bad_magic": b'{"stake_minor": 100}',
        "unknown_fingerprint": unknown_fp,
        "missing_field": serde.encode("bet.placed", bet(player, "")),
        "negative_amount": serde.encode("bet.placed", bet(player, tenant, stake_minor=-100)),
        "unknown_currency": serde.encode("bet.placed", bet(player, tenant, currency="QQQ")),
        "future_timestamp": serde.encode(
            "bet.placed", bet(player, tenant, occurred_at=int(time.time() * 1000) + 86_400_000)
        ),
        "bad_body": good[:20],
        "no_registry": struct.pack(">bI", 0, 1) + good[10:],
        "empty": b"",
    }
    coordinates: dict[str, tuple[int, int]] = {}

    def remember(code):
        def on_delivery(err, msg):
            assert err is None
            coordinates[code] = (msg.partition(), msg.offset())

        return on_delivery

    for code, value in cases.items():
        producer.producer.produce("bet.placed", key=key, value=value, on_delivery=remember(code))
    # a key that is not the player: co-partitioning would break
    producer.producer.produce(
        "bet.placed",
        key=b"someone-else",
        on_delivery=remember("key_mismatch"),
        value=serde.encode("bet.placed", bet(player, tenant)),
    )
    # two good bets after all the bad ones
    producer.send("bet.placed", bet(player, tenant, stake_minor=300))
    producer.send("bet.placed", bet(player, tenant, stake_minor=450, bonus_stake_minor=50))
    producer.flush()

    # the good events are processed: 2 open bets, 300 + 450 + 50
    deadline = time.monotonic() + 60
    key_bets = model_key(stack.redis_prefix, tenant, "bets", player)
    while time.monotonic() < deadline and redis_client.hget(key_bets, "open_count") != "2":
        time.sleep(0.3)
    assert redis_client.hmget(key_bets, "open_count", "open_stake_minor") == ["2", "800"]

    consumer = Consumer(
        {
            "bootstrap.servers": stack.kafka,
            "group.id": f"dlq-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition("dlq.bet.placed", p, 0) for p in range(stack.topic_partitions)])
    found: dict[str, dict[str, bytes]] = {}
    deadline = time.monotonic() + 60
    while len(found) < len(coordinates) and time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        headers = dict(msg.headers() or [])
        coord = (int(headers["source-partition"]), int(headers["source-offset"]))
        for code, c in coordinates.items():
            if c == coord:
                found[code] = {**headers, "_value": msg.value() or b"", "_key": msg.key()}
    consumer.close()

    assert set(found) == set(coordinates)
    for code, headers in found.items():
        assert headers["error"].decode().startswith(f"{code}:"), (code, headers["error"])
        assert headers["source-topic"] == b"bet.placed"
    for code, value in cases.items():
        assert found[code]["_value"] == value  # the original bytes, untouched
    assert found["key_mismatch"]["_key"] == b"someone-else"
