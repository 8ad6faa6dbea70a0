"""One deposit followed through its trace, on the real stack: the producer's span (this
process, in-memory exporter) → the worker's spans for it (received over OTLP/HTTP, as a
collector would) → the AML alert on Kafka, whose `traceparent` names the worker's span; and a
ledger transfer from the CDC relay's span to the worker's."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from foundation import tracing
from ledger.client import Ledger
from tests.conftest import WorkerHandle
from tests.integration.otlp import Receiver
from tests.unit.rules_helpers import deposit, utc

pytestmark = pytest.mark.integration
OTEL = {"OTEL_BSP_SCHEDULE_DELAY": "200"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.stop()


@pytest.fixture
def worker_env(receiver: Receiver) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, **OTEL}


@pytest.fixture
def produced() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.setup("test-producer", exporter=exporter)
    yield exporter
    tracing.shutdown()


def wait_for(what: str, check, timeout: float = 120, seen=None):
    """Until `check()` is truthy; else fail naming `what` and what `seen()` shows."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"no {what} within {timeout:.0f} s; saw {seen() if seen else got!r}")


def alert_headers(bootstrap: str, tenant: str, serde) -> list[tuple[str, bytes]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"trace-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})  # fmt: skip
    consumer.subscribe(["aml.alert"])
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            _, record = serde.decode(msg.value())
            if record["tenant_id"] == tenant:
                return list(msg.headers() or [])
        raise AssertionError(f"no aml.alert of tenant {tenant} within 120 s")
    finally:
        consumer.close()


def test_a_deposit_is_one_trace_from_producer_to_its_aml_alert(
    produced, receiver, worker, producer, stack, serde
):
    tenant = f"trace{uuid.uuid4().hex[:8]}"
    trace_id = uuid.uuid4()
    _, event = deposit(utc("2026-06-10T10:00"), 250000, "EUR", jurisdiction="MGA")
    event.update(tenant_id=tenant, player_id="tp1", trace_id=str(trace_id))
    producer.send("payment.deposit", event)
    producer.flush()
    [published] = produced.get_finished_spans()
    assert (published.name, published.context.trace_id) == (
        "payment.deposit publish", trace_id.int)  # fmt: skip
    published_id = f"{published.context.span_id:016x}"

    [process] = wait_for(
        "worker span for the deposit",
        lambda: receiver.find(name="payment.deposit process", trace_id=trace_id.hex),
    )
    assert (process.service, process.parent_id) == ("wagerstream-worker", published_id)
    assert {k: process.attributes[k] for k in ("tenant_id", "brand_id", "jurisdiction")} == {
        "tenant_id": tenant, "brand_id": "b1", "jurisdiction": "MGA"}  # fmt: skip

    def children() -> list[str]:
        return sorted(s.name for s in receiver.find(parent_id=process.span_id))

    # the deposit's repartition by instrument (shared-instrument rule) carries the trace too
    want = ["decode", "rules", "wagerstream.instrument-uses process"]
    wait_for("decode, rules and the repartition's spans", lambda: children() == want, seen=children)

    def batches() -> list:
        return [s for s in receiver.find(name="players batch") if process.span_id in s.links]

    batch = wait_for("the batch span linking the deposit", batches)
    sinks = {s.name for s in receiver.find(parent_id=batch[0].span_id)}
    assert sinks == {"kafka send", "state flush", "redis write"}

    # the alert carries the trace on: its parent is the worker's span for the deposit
    headers = dict(alert_headers(stack.kafka, tenant, serde))
    _, alert_trace, alert_parent, _ = headers["traceparent"].decode().split("-")
    assert (alert_trace, alert_parent) == (trace_id.hex, process.span_id)


def test_a_ledger_transfer_is_one_trace_from_the_relay_to_the_worker(
    receiver, relay, ledger_dsn, stack, supervisor, tmp_path
):
    """The relay starts first: its first start snapshots the whole ledger, and a worker whose
    group starts after that reads only what comes next."""
    relay.extra_env = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, **OTEL}
    relay.start(timeout=300)
    worker = WorkerHandle(
        supervisor=supervisor,
        app_id=f"wstrace-{uuid.uuid4().hex[:8]}",
        state_dir=tmp_path / "state",
        log=tmp_path / "worker.log",
        extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, **OTEL},
    )
    worker.start()
    tenant = f"trace{uuid.uuid4().hex[:8]}"
    with Ledger(ledger_dsn) as ledger:
        ledger.open_player(tenant, "b1", "MGA", "tp2", "EUR")
        posted = ledger.post(f"{tenant}:d1", "deposit", tenant, "b1", "tp2", "EUR", 5000)
    transfer = uuid.UUID(str(posted.transfer_id)).hex
    relayed = wait_for(
        "the relay's spans",
        lambda: receiver.find(
            name="ledger.cdc publish", trace_id=transfer, service="wagerstream-cdc"
        ),
    )
    # the player's cash leg and the house leg: one trace, the transfer's
    assert sorted(s.attributes["ledger.account_kind"] for s in relayed) == ["cash", "house"]
    cash = next(s for s in relayed if s.attributes["ledger.account_kind"] == "cash")
    continued = wait_for(
        "the worker's span for the ledger entry",
        lambda: receiver.find(name="ledger.cdc process", trace_id=transfer, parent_id=cash.span_id),
        timeout=180,
    )
    assert continued[0].service == "wagerstream-worker"
    assert continued[0].attributes["tenant_id"] == tenant
    worker.stop()
