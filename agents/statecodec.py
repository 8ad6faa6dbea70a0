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


def state_table(table: faust.Table) -> faust.Table:
    """Give a table this codec. Faust takes a table's value codec only from a model's options;
    state here is plain dicts, so it is set on the table before its store is first opened."""
    table.value_serializer = NAME
    return table
