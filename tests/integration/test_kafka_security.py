"""Kafka over SASL_SSL (SCRAM-SHA-512) end to end, against a broker the test starts with a CA
the test generates: the project's own clients, a Faust worker, and the refusals."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from foundation.kafka import client_config, producer_config
from foundation.settings import Settings
from loadgen.bets import generate
from loadgen.producer import EventProducer
from sinks.read_models import model_key
from tooling.stack.manager import Kafka
from tooling.supervisor import Supervisor, free_port, worker
from topics.serde import AvroSerde

pytestmark = pytest.mark.integration


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca_and_broker_pem(folder: Path) -> tuple[Path, Path]:
    """A throwaway CA, and the broker's PKCS#8 key + certificate (localhost) signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("wagerstream test CA"))
        .issuer_name(_name("wagerstream test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, broker_file = folder / "ca.pem", folder / "broker.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    broker_file.write_bytes(
        _pem_key(key)
        + cert.public_bytes(serialization.Encoding.PEM)
        + ca.public_bytes(serialization.Encoding.PEM)
    )
    return ca_file, broker_file


@pytest.fixture(scope="module")
def secure(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A second local broker with a SASL_SSL listener; settings of a client that uses it."""
    folder = tmp_path_factory.mktemp("kafka-sasl-ssl")
    ca_file, broker_file = make_ca_and_broker_pem(folder)
    (folder / "stack" / "kafka").mkdir(parents=True)
    (folder / "stack" / "kafka" / "libs").symlink_to(stack.stack_dir / "kafka" / "libs")
    sasl_port = free_port()
    broker = Settings(
        stack_dir=folder / "stack",
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        kafka_heap="384m",
        kafka_sasl_ssl_port=sasl_port,
        kafka_ssl_keystore_pem=broker_file,
        kafka_sasl_username="wagerstream",
        kafka_sasl_password=uuid.uuid4().hex,
    )
    service = Kafka(broker)
    service.up()
    try:
        yield broker.model_copy(
            update={
                "kafka_bootstrap_servers": f"localhost:{sasl_port}",
                "kafka_security_protocol": "SASL_SSL",
                "kafka_ssl_ca_file": ca_file,
            }
        )
    finally:
        service.down()


def _errors_of(config: dict[str, object], seconds: float = 10) -> set[int]:
    """Error codes librdkafka reports while trying to reach the cluster with `config`."""
    seen: set[int] = set()
    admin = AdminClient({**config, "error_cb": lambda err: seen.add(err.code()), "log_level": 0})
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not seen:
        try:
            admin.list_topics(timeout=1)
            break
        except Exception:
            admin.poll(0.5)  # serves error_cb
    return seen


def test_clients_produce_and_consume_over_sasl_ssl(secure: Settings) -> None:
    topic = f"secure-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(client_config(secure))
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    producer = Producer(producer_config(secure.kafka, settings=secure))
    producer.produce(topic, key=b"p1", value=b"over TLS")
    assert producer.flush(30) == 0
    consumer = Consumer(
        client_config(secure, **{"group.id": topic, "auto.offset.reset": "earliest"})
    )
    consumer.subscribe([topic])
    got = None
    deadline = time.monotonic() + 30
    while got is None and time.monotonic() < deadline:
        msg = consumer.poll(1)
        if msg is not None and msg.error() is None:
            got = (msg.key(), msg.value())
    consumer.close()
    assert got == (b"p1", b"over TLS")


def test_wrong_password_and_unknown_ca_are_refused(secure: Settings) -> None:
    wrong = client_config(secure.model_copy(update={"kafka_sasl_password": "not-it"}))
    assert KafkaError._AUTHENTICATION in _errors_of(wrong)
    system_cas = client_config(secure.model_copy(update={"kafka_ssl_ca_file": None}))
    assert KafkaError._SSL in _errors_of(system_cas)
    plaintext = {"bootstrap.servers": secure.kafka, "security.protocol": "PLAINTEXT"}
    assert _errors_of(plaintext)  # a plaintext client gets nothing from a TLS port


def test_worker_runs_over_sasl_ssl_with_the_password_from_a_file(
    secure: Settings, stack: Settings, tmp_path: Path, supervisor: Supervisor
) -> None:
    password_file = tmp_path / "kafka-password"
    password_file.write_text(f"{secure.kafka_sasl_password}\n")
    env = {
        "WAGERSTREAM_KAFKA_BOOTSTRAP_SERVERS": secure.kafka,
        "WAGERSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "WAGERSTREAM_KAFKA_SASL_USERNAME": "wagerstream",
        "WAGERSTREAM_KAFKA_SASL_PASSWORD_FILE": str(password_file),
        "WAGERSTREAM_KAFKA_SSL_CA_FILE": str(secure.kafka_ssl_ca_file),
        "WAGERSTREAM_TOPIC_PARTITIONS": "3",
    }
    created = subprocess.run(
        [sys.executable, "-m", "wagerstream", "topics", "create"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    port = free_port()
    app_id = f"wssec-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    child = worker(
        "secure-worker",
        log,
        port,
        {**env, "WAGERSTREAM_APP_ID": app_id, "WAGERSTREAM_STATE_DIR": str(tmp_path / "st")},
    )
    try:
        supervisor.start(child, timeout=180)
        tenant = f"sec-{uuid.uuid4().hex[:6]}"
        placed = next(r for t, r in generate(tenant, 1, players=1).events if t == "bet.placed")
        placed["occurred_at"] = int(time.time() * 1000)
        producer = EventProducer(secure.kafka, AvroSerde(), settings=secure)
        producer.send("bet.placed", placed)
        producer.flush(30)
        client = redis.Redis.from_url(stack.redis, decode_responses=True)
        key = model_key(stack.redis_prefix, tenant, "bets", placed["player_id"])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not client.exists(key):
            time.sleep(0.2)
        assert client.hmget(key, "open_count", "open_stake_minor") == [
            "1",
            str(placed["stake_minor"]),
        ]
    finally:
        child.stop()
    assert secure.kafka_sasl_password not in log.read_text()
