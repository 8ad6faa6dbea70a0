"""A fresh broker's cluster id never reads as a command-line option (`tooling.stack.manager`)."""

from __future__ import annotations

import base64

from tooling.stack.manager import kafka_cluster_id


def test_cluster_ids_are_16_random_bytes_never_starting_with_a_dash() -> None:
    ids = [kafka_cluster_id() for _ in range(3000)]  # a dash would come first ~47 times
    assert not [i for i in ids if i.startswith("-")]
    assert {len(base64.urlsafe_b64decode(i + "==")) for i in ids} == {16}
    assert len(set(ids)) == len(ids)
