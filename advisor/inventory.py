"""Snapshot history in one SQLite file (standard library only): add, latest per host, what changed since a date.

Writes are one transaction each (BEGIN IMMEDIATE): a batch is stored whole or not at all, and a second writer
waits for the first (WAL journal, a 30 s busy timeout). The same snapshot added twice is stored once.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from advisor.errors import BadInputError, SnapshotError
from advisor.fleet_input import Loaded, Skipped, parse_one, reason_of
from advisor.fleet_report import parse_time
from probes.schema import Snapshot

DB_SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    taken_ts REAL NOT NULL,
    added_at TEXT NOT NULL,
    source TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS snapshots_host_time ON snapshots (host, taken_ts);
CREATE TABLE IF NOT EXISTS measurements (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    model TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS measurements_model ON measurements (model, fingerprint);
"""


@dataclass(frozen=True)
class Stored:
    id: int
    snapshot: Snapshot
    taken_ts: float


class Inventory:
    """One inventory database file."""

    def __init__(self, path: str | Path, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise BadInputError(f"--db {self.path}: no such inventory (create it with advisor inventory add)")
        if self.path.is_dir():
            raise BadInputError(f"--db {self.path}: is a directory")
        try:
            self.conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise BadInputError(f"--db {self.path}: not an advisor inventory database ({exc})") from None

    def _migrate(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self.conn.execute(statement)
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                self.conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(DB_SCHEMA_VERSION),))
            elif int(row[0]) > DB_SCHEMA_VERSION:
                raise BadInputError(f"--db {self.path}: inventory version {row[0]} is newer than this advisor reads")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()

    def add(self, items: list[Loaded], rejected: list[Skipped] | None = None) -> tuple[int, int]:
        """Store the valid snapshots of a batch in one transaction: (added, already present). A snapshot that
        cannot be stored (a `taken_at` that is not a time) is left out and appended to `rejected`; the batch is
        written whole or not at all."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        rows = []
        for item in items:
            doc = item.snapshot.model_dump_json()
            taken = parse_time(item.snapshot.taken_at)
            if taken is None:
                why = f"field taken_at: {item.snapshot.taken_at[:40]!r} is not an ISO 8601 time"
                if rejected is None:
                    raise SnapshotError(f"{item.source}: {why}")
                rejected.append(Skipped(item.source, why))
                continue
            rows.append((item.snapshot.host.hostname, item.snapshot.taken_at, taken.timestamp(), now, item.source,
                         hashlib.sha256(doc.encode()).hexdigest(), doc))
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            before = self.conn.total_changes
            self.conn.executemany("INSERT OR IGNORE INTO snapshots (host, taken_at, taken_ts, added_at, source, sha256, doc) "
                                  "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            added = self.conn.total_changes - before
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return added, len(rows) - added

    def _rows(self, sql: str, args: tuple[object, ...] = ()) -> tuple[list[Stored], list[Skipped]]:
        out, bad = [], []
        for row_id, doc, ts in self.conn.execute(sql, args):
            source = f"{self.path}#{row_id}"
            try:
                out.append(Stored(row_id, parse_one(doc, source), ts))
            except SnapshotError as exc:
                bad.append(Skipped(source, reason_of(exc, source)))
        return out, bad

    def latest(self, at_or_before: float | None = None) -> tuple[list[Loaded], list[Skipped]]:
        """The newest snapshot of every host (as of a time, when given)."""
        where = "WHERE taken_ts <= ?" if at_or_before is not None else ""
        args: tuple[object, ...] = (at_or_before,) if at_or_before is not None else ()
        sql = (f"SELECT id, doc, taken_ts FROM snapshots s JOIN (SELECT host h, MAX(taken_ts) t FROM snapshots {where} "
               "GROUP BY host) m ON s.host = m.h AND s.taken_ts = m.t GROUP BY s.host ORDER BY s.host")
        rows, bad = self._rows(sql, args)
        return [Loaded(r.snapshot, f"{self.path}#{r.id}") for r in rows], bad

    def earliest(self) -> tuple[list[Loaded], list[Skipped]]:
        """The first snapshot of every host."""
        sql = ("SELECT id, doc, taken_ts FROM snapshots s JOIN (SELECT host h, MIN(taken_ts) t FROM snapshots "
               "GROUP BY host) m ON s.host = m.h AND s.taken_ts = m.t GROUP BY s.host ORDER BY s.host")
        rows, bad = self._rows(sql)
        return [Loaded(r.snapshot, f"{self.path}#{r.id}") for r in rows], bad

    def first_time(self) -> float | None:
        """When the oldest snapshot was taken (a Unix time), None when empty."""
        row = self.conn.execute("SELECT MIN(taken_ts) FROM snapshots").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def count(self) -> tuple[int, int]:
        """(snapshots, hosts)."""
        n, hosts = self.conn.execute("SELECT COUNT(*), COUNT(DISTINCT host) FROM snapshots").fetchone()
        return int(n), int(hosts)
