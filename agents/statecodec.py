"""The codec of table state: JSON through orjson, registered with Faust as `orjson`.

Every player touched by a batch has its state decoded from RocksDB and encoded back into
RocksDB and the changelog; with the standard library's json that was 14 % of a worker's CPU
(py-spy, issue 7). orjson writes the same JSON, so changelogs written before this codec
existed still load, and a table can go back to Faust's `json` codec without a migration.
"""

from __future__ import annotations

import json
from typing import Any

import faust
import orjson
from faust.serializers import codecs

_OPTIONS = orjson.OPT_NON_STR_KEYS  # int dict keys become strings, as json.dumps does


class OrjsonCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, option=_OPTIONS)
        except TypeError:
            # Integers beyond 64 bits: json writes them exactly. The leading space (still
            # JSON) routes them back through json, because orjson would read them as floats.
            return b" " + json.dumps(obj, separators=(",", ":")).encode()

    def _loads(self, s: bytes) -> Any:
        if s[:1] == b" ":
            return json.loads(s)
        return orjson.loads(s)


NAME = "orjson"
codecs.register(NAME, OrjsonCodec())


def store_options(write_buffer_mb: int, block_cache_mb: int) -> dict[str, int]:
    """RocksDB options of one table partition's database. Each partition is its own database
    with its own memtables and block cache, so a worker holding 3 tables x 12 partitions holds
    36 of them: the memory of a worker is 36 x (2 x write buffer + cache) at most. A fresh dict
    each time, because Faust's store pops from the one it is given."""
    mb = 1024 * 1024
    return {
        "write_buffer_size": write_buffer_mb * mb,
        "max_write_buffer_number": 2,
        "target_file_size_base": max(write_buffer_mb, 8) * mb,
        "block_cache_size": block_cache_mb * mb,
        "block_cache_compressed_size": block_cache_mb * mb,
    }


def state_table(table: faust.Table) -> faust.Table:
    """Give a table this codec. Faust takes a table's value codec only from a model's options;
    state here is plain dicts, so it is set on the table before its store is first opened."""
    table.value_serializer = NAME
    return table
