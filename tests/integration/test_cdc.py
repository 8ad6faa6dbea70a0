"""The CDC relay against real PostgreSQL and Kafka: nothing lost, order kept, kill -9 survived.

The expected (lsn, entry_id) pairs come from a second, independent logical decoding slot using
PostgreSQL's own test_decoding plugin, created before the traffic starts.
"""

from __future__ import annotations

import random
import re
import threading
import time
import uuid
from collections import defaultdict

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition

from ledger.cdc import drop_slot
from ledger.client import Ledger, Overdraft
from ledger.pgoutput import parse_lsn
from topics.admin import end_offsets

pytestmark = pytest.mark.integration
ENTRY = re.compile(
    r"^table ledger\.entries: INSERT: entry_id\[bigint\]:(\d+) .* tenant_id\[text\]:'([^']*)'"
)


class Witness:
    """A test_decoding slot: PostgreSQL's own account of which entry was written at which LSN."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.slot = f"witness_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (self.slot,)
            )

    def entries(self, tenant: str) -> dict[int, int]:
        """entry_id → lsn for the tenant's entries; drops the slot."""
        found: dict[int, int] = {}
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT lsn::text, data FROM pg_logical_slot_get_changes(%s, NULL, NULL)",
                (self.slot,),
            ).fetchall()
        drop_slot(self.dsn, self.slot, forget_state=False)
        for lsn, data in rows:
            m = ENTRY.match(data)
            if m and m.group(2) == tenant:
                found[int(m.group(1))] = parse_lsn(lsn)
        return found


def post_traffic(
    dsn: str, tenant: str, transfers: int, threads: int, players: int = 40, batch: str = "a"
) -> int:
    """Deposits, stakes and wins from several clients; returns how many were posted."""
    with Ledger(dsn) as ledger:
        for i in range(players):
            ledger.open_player(tenant, "b1", "MGA", f"{tenant}-p{i}", "EUR")
    posted = [0] * threads

    def client(n: int) -> None:
        rng = random.Random(n)
        with Ledger(dsn) as ledger:
            for i in range(transfers // threads):
                player = f"{tenant}-p{rng.randrange(players)}"
                kind = rng.choice(("deposit", "stake", "stake", "win"))
                try:
                    ledger.post(
                        f"{tenant}-{batch}{n}-{i}",
                        kind,
                        tenant,
                        "b1",
                        player,
                        "EUR",
                        rng.randint(1, 5000),
                    )
                    posted[n] += 1
                except Overdraft:
                    ledger.post(
                        f"{tenant}-{batch}{n}-{i}", "deposit", tenant, "b1", player, "EUR", 10_000
                    )
                    posted[n] += 1

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(posted)


def cdc_ends(bootstrap: str) -> dict[int, int]:
    """ledger.cdc's high-water marks now: where the test's own records will start."""
    return {p: high for (_, p), high in end_offsets(bootstrap, ("ledger.cdc",), 12).items()}


def read_cdc(
    bootstrap: str, serde, tenant: str, expected: int, since: dict[int, int], timeout: float = 300
):
    """Every ledger.cdc record of the tenant from the offsets `since` (taken before the test
    wrote anything: the topic holds every earlier test's records and snapshots, too many to
    read from 0 on a busy machine), per partition in offset order."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"cdc-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition("ledger.cdc", p, since[p]) for p in range(12)])
    records: list[dict] = []
    seen: set[int] = set()
    deadline = time.monotonic() + timeout
    idle = 0
    while time.monotonic() < deadline and (len(seen) < expected or idle < 3):
        msg = consumer.poll(1.0)
        if msg is None:
            idle += 1
            continue
        idle = 0
        if msg.error():
            continue
        record = serde.decode(msg.value())[1]
        if record["after"]["tenant_id"] == tenant:
            assert msg.key() == record["after"]["player_id"].encode()
            records.append(record)
            seen.add(record["after"]["entry_id"])
    consumer.close()
    assert len(seen) >= expected, (
        f"read {len(seen)} of the tenant's {expected} entries from ledger.cdc within {timeout} s"
    )
    return records


def test_ten_thousand_transfers_arrive_complete_and_in_commit_order(
    ledger_dsn, relay, serde, stack
):
    relay.start()
    tenant = f"cdc{uuid.uuid4().hex[:8]}"
    witness = Witness(ledger_dsn)
    since = cdc_ends(stack.kafka)
    posted = post_traffic(ledger_dsn, tenant, transfers=10_000, threads=4)
    assert posted == 10_000
    truth = witness.entries(tenant)
    assert len(truth) == 20_000  # two legs per transfer
    records = read_cdc(stack.kafka, serde, tenant, expected=len(truth), since=since)

    got = {(r["lsn"], r["after"]["entry_id"]) for r in records}
    assert got == {(lsn, entry) for entry, lsn in truth.items()}
    assert len(records) == len(got)  # no duplicates without a crash
    assert {r["op"] for r in records} == {"c"}
    # Debezium's envelope says the same: lsn, txId and commit time in `source`, and each
    # transaction's changes numbered 1..n (two legs per transfer)
    assert all(r["source"]["lsn"] == r["lsn"] and r["source"]["txId"] == r["tx_id"]
               and r["source"]["ts_ms"] == r["commit_ts"] for r in records)  # fmt: skip
    assert {r["source"]["snapshot"] for r in records} == {"false"}
    orders = defaultdict(set)
    for r in records:
        assert r["transaction"]["id"].startswith(f"{r['tx_id']}:")
        orders[r["transaction"]["id"]].add(r["transaction"]["total_order"])
    assert len(orders) == 10_000 and set(map(frozenset, orders.values())) == {frozenset({1, 2})}
    # per player, Kafka order is commit order: the witness's LSNs only go up
    by_player = defaultdict(list)
    for r in records:
        by_player[r["after"]["player_id"]].append(truth[r["after"]["entry_id"]])
    assert all(lsns == sorted(lsns) for lsns in by_player.values())
    # and each transfer's legs share one transaction id
    tx_by_transfer = defaultdict(set)
    for r in records:
        tx_by_transfer[r["after"]["transfer_id"]].add(r["tx_id"])
    assert all(len(t) == 1 for t in tx_by_transfer.values())


def test_kill9_at_random_moments_loses_nothing(ledger_dsn, relay, serde, stack):
    relay.start()
    tenant = f"cdk{uuid.uuid4().hex[:8]}"
    witness = Witness(ledger_dsn)
    since = cdc_ends(stack.kafka)
    done = threading.Event()
    total = {}

    def traffic():
        total["posted"] = post_traffic(ledger_dsn, tenant, transfers=4_000, threads=2)
        done.set()

    threading.Thread(target=traffic).start()
    rng = random.Random(5)
    kills = 0
    while not done.is_set() or kills < 5:
        time.sleep(rng.uniform(0.2, 1.5))
        relay.kill9()
        kills += 1
        relay.start()
    assert kills >= 5
    truth = witness.entries(tenant)
    assert len(truth) == 2 * total["posted"]
    records = read_cdc(stack.kafka, serde, tenant, expected=len(truth), since=since)

    first_copy: dict[int, int] = {}
    for r in records:
        entry = r["after"]["entry_id"]
        assert first_copy.setdefault(entry, r["lsn"]) == r["lsn"], "a duplicate changed its lsn"
    assert set(first_copy) == set(truth)  # nothing missing
    assert first_copy == truth  # and every lsn is the WAL's own


def test_first_run_snapshots_history_then_streams_without_gap_or_overlap(
    ledger_dsn, relay, serde, stack
):
    tenant = f"cds{uuid.uuid4().hex[:8]}"
    witness = Witness(ledger_dsn)
    since = cdc_ends(stack.kafka)
    post_traffic(ledger_dsn, tenant, transfers=1_000, threads=2)  # history before the slot
    done = threading.Event()

    def more():  # and traffic while the slot is created and the snapshot read
        post_traffic(ledger_dsn, tenant, transfers=2_000, threads=2, batch="b")
        done.set()

    threading.Thread(target=more).start()
    time.sleep(0.3)
    relay.start()
    done.wait(120)
    truth = witness.entries(tenant)
    assert len(truth) == 6_000
    records = read_cdc(stack.kafka, serde, tenant, expected=len(truth), since=since)

    entries = [r["after"]["entry_id"] for r in records]
    assert len(entries) == len(set(entries))  # no overlap between snapshot and stream
    assert set(entries) == set(truth)  # no gap
    snap = [r for r in records if r["op"] == "r"]
    streamed = [r for r in records if r["op"] == "c"]
    assert len(snap) >= 2_000 and streamed  # at least the history; the rest streamed
    assert len({r["lsn"] for r in snap}) == 1  # the slot's consistent point
    assert all(r["source"]["snapshot"] == "true" and r["transaction"] is None for r in snap)
    snapshot_lsn = snap[0]["lsn"]
    # everything in the snapshot was written before the slot's start; everything streamed was
    # committed after it (a transaction open across the slot's creation has entries written
    # before that point: their own lsn is lower, their commit LSN, in transaction.id, higher)
    assert all(truth[r["after"]["entry_id"]] < snapshot_lsn for r in snap)
    assert all(r["lsn"] == truth[r["after"]["entry_id"]] for r in streamed)
    early = [(r["after"]["entry_id"], r["lsn"], r["transaction"]["id"]) for r in streamed
             if int(r["transaction"]["id"].split(":")[1]) <= snapshot_lsn]  # fmt: skip
    assert early == [], f"{len(early)} streamed, committed by {snapshot_lsn}: {early[:3]}"


def test_relay_on_a_database_without_the_ledger_says_what_to_run(stack, serde):
    from ledger.cdc import CdcRelay, RelayError

    other_db = stack.postgres.rsplit("/", 1)[0] + "/postgres"
    relay = CdcRelay(other_db, stack.kafka, serde, slot="never_created")
    with pytest.raises(RelayError, match="run `wagerstream ledger migrate` first"):
        relay.run()
