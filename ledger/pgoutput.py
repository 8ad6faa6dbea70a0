"""A parser for PostgreSQL's pgoutput logical-replication messages (protocol version 1).

Pure bytes → dataclasses, no I/O, so it is unit-tested on bytes captured from a real server.
Only what the relay needs is interpreted: Begin, Commit, Relation, Insert; the other message
types are recognised and returned as opaque values so a stream containing them never breaks.
Reference: PostgreSQL docs, "Logical Replication Message Formats".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in Unix microseconds


class PgOutputError(ValueError):
    pass


@dataclass(frozen=True)
class Begin:
    final_lsn: int
    commit_ts_us: int  # Unix microseconds
    xid: int


@dataclass(frozen=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int


@dataclass(frozen=True)
class Column:
    flags: int  # 1 = part of the key
    name: str
    type_oid: int
    typmod: int


@dataclass(frozen=True)
class Relation:
    relid: int
    namespace: str
    name: str
    replica_identity: str
    columns: tuple[Column, ...]

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace or 'public'}.{self.name}"


UNCHANGED_TOAST = object()


@dataclass(frozen=True)
class Insert:
    relid: int
    values: tuple[str | None, ...]


@dataclass(frozen=True)
class Update:
    relid: int
    old: tuple[str | None, ...] | None
    new: tuple[str | None, ...]


@dataclass(frozen=True)
class Delete:
    relid: int
    old: tuple[str | None, ...]


@dataclass(frozen=True)
class Other:
    kind: str  # 'O' origin, 'Y' type, 'T' truncate, 'M' logical message
    payload: bytes


Message = Begin | Commit | Relation | Insert | Update | Delete | Other


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise PgOutputError(f"message truncated at byte {self.pos} (needs {size} more)")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def cstring(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise PgOutputError(f"unterminated string at byte {self.pos}")
        value = self.data[self.pos : end].decode()
        self.pos = end + 1
        return value

    def tuple_data(self) -> tuple:
        (ncols,) = self.take(">h")
        values: list = []
        for _ in range(ncols):
            (kind,) = self.take(">c")
            if kind == b"n":
                values.append(None)
            elif kind == b"u":
                values.append(UNCHANGED_TOAST)
            elif kind in (b"t", b"b"):
                (length,) = self.take(">i")
                raw = self.data[self.pos : self.pos + length]
                if len(raw) != length:
                    raise PgOutputError("column value truncated")
                self.pos += length
                values.append(raw.decode() if kind == b"t" else bytes(raw))
            else:
                raise PgOutputError(f"unknown tuple column kind {kind!r}")
        return tuple(values)


def parse(data: bytes) -> Message:
    if not data:
        raise PgOutputError("empty pgoutput message")
    r = _Reader(bytes(data))
    (tag,) = r.take(">c")
    if tag == b"B":
        final_lsn, ts, xid = r.take(">QqI")
        return Begin(final_lsn, ts + PG_EPOCH_US, xid)
    if tag == b"C":
        flags, commit_lsn, end_lsn, ts = r.take(">bQQq")
        return Commit(flags, commit_lsn, end_lsn, ts + PG_EPOCH_US)
    if tag == b"R":
        (relid,) = r.take(">I")
        namespace = r.cstring()
        name = r.cstring()
        identity, ncols = r.take(">ch")
        columns = []
        for _ in range(ncols):
            (flags,) = r.take(">b")
            col = r.cstring()
            oid, typmod = r.take(">Ii")
            columns.append(Column(flags, col, oid, typmod))
        return Relation(relid, namespace, name, identity.decode(), tuple(columns))
    if tag == b"I":
        relid, marker = r.take(">Ic")
        if marker != b"N":
            raise PgOutputError(f"insert without new tuple marker: {marker!r}")
        return Insert(relid, r.tuple_data())
    if tag == b"U":
        (relid,) = r.take(">I")
        (marker,) = r.take(">c")
        old = None
        if marker in (b"K", b"O"):
            old = r.tuple_data()
            (marker,) = r.take(">c")
        if marker != b"N":
            raise PgOutputError(f"update without new tuple marker: {marker!r}")
        return Update(relid, old, r.tuple_data())
    if tag == b"D":
        relid, _marker = r.take(">Ic")
        return Delete(relid, r.tuple_data())
    if tag in (b"O", b"Y", b"T", b"M"):
        return Other(tag.decode(), bytes(data[1:]))
    raise PgOutputError(f"unknown pgoutput message type {tag!r}")


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)
