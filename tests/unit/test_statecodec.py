"""The table-state codec: same JSON as before, exact integers of any size."""

from __future__ import annotations

import json

from faust.serializers import codecs

from agents import statecodec

CODEC = codecs.get_codec(statecodec.NAME)


def test_writes_compact_json_that_the_standard_library_reads() -> None:
    state = {"seq": 3, "seen": {"e1": 1_767_225_600_000}, "limits": {"deposit": [1, None]}}
    encoded = CODEC.dumps(state)
    assert encoded == b'{"seq":3,"seen":{"e1":1767225600000},"limits":{"deposit":[1,null]}}'
    assert json.loads(encoded) == state


def test_reads_state_written_by_fausts_json_codec() -> None:
    legacy = codecs.get_codec("json").dumps({"fired": {"aml_structuring:2026-W01": 1}})
    assert CODEC.loads(legacy) == {"fired": {"aml_structuring:2026-W01": 1}}


def test_integers_beyond_64_bits_stay_exact() -> None:
    state = {"total_minor": 2**70 + 1, "low": -(2**64)}
    encoded = CODEC.dumps(state)
    assert CODEC.loads(encoded) == {
        "total_minor": 1180591620717411303425,
        "low": -18446744073709551616,
    }
    assert json.loads(encoded)["total_minor"] == 1180591620717411303425


def test_integer_keys_become_strings_as_with_json() -> None:
    assert CODEC.loads(CODEC.dumps({7: "x"})) == {"7": "x"}
