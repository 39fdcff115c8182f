"""Measurements recorded by `advisor verify --record`, in the inventory database's `measurements` table, and
their lookup by `fit` and `check`: a recorded peak of the same configuration on the same hardware is a floor for
the estimate (rules/placement.py measured_floor).

The same hardware is the same host and device: the hostname with, for a GPU, its UUID (or its name and total
memory where the UUID is unknown), for the CPU its model and total RAM. A machine whose GPU was swapped, or a
what-if machine, matches nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from probes.schema import Snapshot
from rules.plan import Measured


def fingerprint(snapshot: Snapshot, device: str) -> str | None:
    """The identity of one device of `snapshot` ("cpu", "gpu:0"); None when it is not there."""
    host = snapshot.host.hostname
    if device == "cpu":
        return f"{host}|cpu|{snapshot.cpu.model or '?'}|{snapshot.memory.total_bytes or 0}"
    if device.startswith("gpu:") and device[4:].isdigit():
        gpu = next((g for g in snapshot.gpus if g.index == int(device[4:])), None)
        if gpu is None:
            return None
        ident = gpu.uuid or f"{gpu.name}|{gpu.memory_total_bytes or 0}"
        return f"{host}|gpu|{ident}"
    return None


def record(db: Path, snapshot: Snapshot, model: str, measured: Measured, doc: dict[str, Any]) -> int:
    """Store one measurement (the whole verify document with it); its row id."""
    from advisor.inventory import Inventory

    fp = fingerprint(snapshot, measured.device)
    if fp is None:
        raise ValueError(f"{measured.device} is not a device of this machine")
    inv = Inventory(db)
    try:
        with inv.conn:
            cur = inv.conn.execute(
                "INSERT INTO measurements (host, fingerprint, model, recorded_at, doc) VALUES (?, ?, ?, ?, ?)",
                (snapshot.host.hostname, fp, model, measured.measured_at,
                 json.dumps({"measured": measured.model_dump(), "verify": doc})))
        return int(cur.lastrowid or 0)
    finally:
        inv.close()


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _connect(db: Path) -> sqlite3.Connection | None:
    if not db.is_file():
        return None
    try:
        return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2.0)
    except sqlite3.Error:
        return None


def lookup(db: Path, snapshot: Snapshot, model: str) -> tuple[Measured, ...]:
    """Every measurement recorded for `model` on a device of `snapshot`; empty when there is no database or it
    cannot be read (then the plans simply name no measurement)."""
    conn = _connect(db)
    if conn is None:
        return ()
    devices = ["cpu", *(f"gpu:{g.index}" for g in snapshot.gpus)]
    prints = {fp: d for d in devices if (fp := fingerprint(snapshot, d)) is not None}
    out = []
    try:
        rows = conn.execute("SELECT fingerprint, doc FROM measurements WHERE model = ?", (model,)).fetchall()
    except sqlite3.Error:
        rows = []
    finally:
        conn.close()
    for fp, doc in rows:
        device = prints.get(fp)
        if device is None:
            continue
        try:
            m = Measured.model_validate(json.loads(doc)["measured"])
        except (ValueError, KeyError, TypeError):
            continue
        out.append(m.model_copy(update={"device": device}))
    return tuple(out)


def listing(db: Path) -> Iterable[dict[str, Any]]:
    """Every recorded measurement, newest first: host, model, the configuration, estimate and measured."""
    conn = _connect(db)
    if conn is None:
        return []
    try:
        rows = conn.execute("SELECT id, host, model, recorded_at, doc FROM measurements ORDER BY recorded_at DESC, id DESC"
                            ).fetchall()
    except sqlite3.Error:
        rows = []
    finally:
        conn.close()
    out = []
    for row_id, host, model, at, doc in rows:
        try:
            parsed = json.loads(doc)
        except ValueError:
            continue
        out.append({"id": row_id, "host": host, "model": model, "recorded_at": at, **parsed})
    return out
