"""`advisor inventory add|diff`: keep snapshots over time in SQLite and say what changed."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from advisor.errors import EXIT_BAD_INPUT, EXIT_OK, BadInputError
from advisor.fleet_input import read_all
from advisor.fleet_report import parse_time
from advisor.inventory import Inventory
from advisor.units import gib
from probes.schema import Gpu, Snapshot


def run_add(sources: list[str], db: Path, json_out: bool = False) -> int:
    if not sources:
        raise BadInputError("name snapshot files, directories, JSON-lines files or - for stdin")
    loaded, skipped = read_all(sources)
    inv = Inventory(db)
    try:
        added, present = inv.add(loaded, skipped) if loaded else (0, 0)
        snapshots, hosts = inv.count()
    finally:
        inv.close()
    for s in skipped:
        sys.stderr.write(f"advisor: rejected {s.source}: {s.reason}\n")
    if json_out:
        doc = {"schema_version": "1.0", "db": str(db), "added": added, "already_stored": present,
               "rejected": [{"source": s.source, "reason": s.reason} for s in skipped],
               "snapshots": snapshots, "hosts": hosts}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK if added or present else EXIT_BAD_INPUT
    print(f"added {added} snapshot{'s' * (added != 1)}"
          f"{f' ({present} already stored)' if present else ''}"
          f"{f', rejected {len(skipped)}' if skipped else ''}; {db} holds {snapshots} snapshots of {hosts} hosts")
    return EXIT_OK if added or present else EXIT_BAD_INPUT


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """An ISO date or time ("2026-11-01", "2026-11-01T12:00Z") or an age ("7d", "36h")."""
    now = now or datetime.now(timezone.utc)
    t = text.strip()
    if len(t) > 40:
        raise BadInputError(f"--since: not a date or an age: {t[:40]!r}... (e.g. 2026-11-01 or 7d)")
    if t and t[-1] in "mhdw" and t[:-1].replace(".", "", 1).isdigit():
        seconds = float(t[:-1]) * {"m": 60, "h": 3600, "d": 86400, "w": 604800}[t[-1]]
        try:
            return now - timedelta(seconds=seconds)
        except OverflowError:
            raise BadInputError(f"--since: {t} reaches before the year 1 (e.g. 7d or 2026-11-01)") from None
    when = parse_time(t)
    if when is None:
        raise BadInputError(f"--since: not a date or an age: {text!r} (e.g. 2026-11-01 or 7d)")
    return when


@dataclass(frozen=True)
class Change:
    host: str
    kind: str  # new-host | quiet | gpu-lost | gpu-back | gpu-missing | gpu-added | gpu-memory | ram | driver | cuda | cpu
    detail: str


def _gpu_key(g: Gpu) -> str:
    return g.uuid or f"{g.index}:{g.name}"


def _gpu_label(g: Gpu) -> str:
    return f"GPU {g.index} {g.name or ''} ({g.uuid or 'no UUID'})".replace("  ", " ")


def _lost(g: Gpu) -> bool:
    """NVML lists the GPU but could not read it (GPU is lost, unknown error): no UUID and no memory."""
    return g.uuid is None and g.memory_total_bytes is None


def changes(before: Snapshot, after: Snapshot) -> list[Change]:
    """What differs between two snapshots of one host (hardware and software, not free memory).

    A GPU NVML still lists but cannot read is "lost" (with NVML's error), matched to the GPU that had its index,
    not reported as one GPU missing and another appearing.
    """
    host = after.host.hostname
    out = []
    old = {_gpu_key(g): g for g in before.gpus if not _lost(g)}
    new = {_gpu_key(g): g for g in after.gpus if not _lost(g)}
    lost_now = {g.index: g for g in after.gpus if _lost(g)}
    lost_before = {g.index for g in before.gpus if _lost(g)}
    for k, g in old.items():
        if k in new:
            continue
        if g.index in lost_now:
            why = "; ".join(lost_now[g.index].errors) or "no UUID or memory could be read"
            out.append(Change(host, "gpu-lost", f"{_gpu_label(g)} can no longer be read: {why}"))
        else:
            out.append(Change(host, "gpu-missing", f"{_gpu_label(g)} is gone"))
    for index, g in lost_now.items():
        if index not in lost_before and not any(o.index == index for o in old.values()):
            why = "; ".join(g.errors) or "no UUID or memory could be read"
            out.append(Change(host, "gpu-lost", f"GPU {index} cannot be read: {why}"))
    for k, g in new.items():
        if k not in old:
            was_lost = g.index in lost_before
            out.append(Change(host, "gpu-back" if was_lost else "gpu-added",
                              f"{_gpu_label(g)} {'can be read again' if was_lost else 'appeared'}"))
        elif old[k].memory_total_bytes != g.memory_total_bytes:
            out.append(Change(host, "gpu-memory", f"{_gpu_label(g)} total memory {gib(old[k].memory_total_bytes)} → "
                                                  f"{gib(g.memory_total_bytes)}"))
    if before.memory.total_bytes != after.memory.total_bytes:
        out.append(Change(host, "ram", f"RAM {gib(before.memory.total_bytes)} → {gib(after.memory.total_bytes)}"))
    if before.nvml.driver_version != after.nvml.driver_version:
        out.append(Change(host, "driver", f"driver {before.nvml.driver_version or 'none'} → {after.nvml.driver_version or 'none'}"))
    if before.nvml.cuda_driver_version != after.nvml.cuda_driver_version:
        out.append(Change(host, "cuda", f"CUDA {before.nvml.cuda_driver_version or 'none'} → "
                                        f"{after.nvml.cuda_driver_version or 'none'}"))
    if before.cpu.model != after.cpu.model or before.cpu.logical_cores != after.cpu.logical_cores:
        out.append(Change(host, "cpu", f"CPU {before.cpu.model} ({before.cpu.logical_cores}) → {after.cpu.model} "
                                       f"({after.cpu.logical_cores})"))
    return out


def diff(inv: Inventory, since: datetime) -> tuple[list[Change], str | None]:
    """Each host's state at `since` (its newest snapshot then) against its newest now, and the events between.

    A host with no snapshot at `since` is new when the inventory already held others then; its first snapshot is
    the baseline. When `since` is before the inventory's first snapshot, nothing is called new: every host is
    compared from its first snapshot, and the second value says where the history starts.
    """
    start = inv.first_time()
    then, _ = inv.latest(at_or_before=since.timestamp())
    now, _ = inv.latest()
    first, _ = inv.earliest()
    before = {item.snapshot.host.hostname: item.snapshot for item in then}
    earliest = {item.snapshot.host.hostname: item.snapshot for item in first}
    history_note = None
    if start is not None and start > since.timestamp():
        started = datetime.fromtimestamp(start, timezone.utc).isoformat(timespec="seconds")
        history_note = f"the inventory starts at {started}, after {since.isoformat(timespec='seconds')}: each host is " \
                       "compared from its first snapshot"
    out: list[Change] = []
    for item in now:
        snap = item.snapshot
        host = snap.host.hostname
        taken = parse_time(snap.taken_at)
        if taken is not None and taken <= since:
            out.append(Change(host, "quiet", f"no snapshot since {since.isoformat(timespec='seconds')}; last seen {snap.taken_at}"))
            continue
        base = before.get(host)
        if base is None:
            base = earliest.get(host, snap)
            if history_note is None:
                out.append(Change(host, "new-host", f"first seen {base.taken_at}"))
        out.extend(changes(base, snap))
    return out, history_note


def run_diff(db: Path, since_text: str, fmt: str) -> int:
    fmt = fmt.lower()
    if fmt not in ("rich", "json"):
        raise BadInputError(f"--format: unknown format {fmt!r} (choose from rich, json)")
    since = parse_since(since_text)
    inv = Inventory(db, create=False)
    try:
        found, history_note = diff(inv, since)
    finally:
        inv.close()
    if fmt == "json":
        doc = {"schema_version": "1.1", "since": since.isoformat(timespec="seconds"), "history": history_note,
               "changes": [c.__dict__ for c in found]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK
    from advisor.output import console

    con = console()
    if history_note:
        con.print(f"note: {history_note}", style="dim", markup=False)
    if not found:
        con.print(f"No changes since {since.isoformat(timespec='seconds')}.")
        return EXIT_OK
    con.print(f"[bold]{len(found)} change{'s' * (len(found) != 1)} since {since.isoformat(timespec='seconds')}[/]")
    for c in found:
        con.print(f"  {c.host}: {c.kind}: {c.detail}", markup=False)
    return EXIT_OK


def run_measurements(db: Path, json_out: bool) -> int:
    """`advisor inventory measurements`: what advisor verify --record stored, newest first."""
    from advisor.verify.records import listing

    if not db.exists():
        raise BadInputError(f"--db {db}: no such inventory (advisor verify --record creates it)")
    rows = list(listing(db))
    if json_out:
        doc = {"schema_version": "1.0", "db": str(db), "measurements": rows}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK
    from rich.table import Table

    from advisor.output import console

    con = console()
    if not rows:
        con.print(f"{db}: no measurements recorded (advisor verify MODEL --record adds one)", markup=False)
        return EXIT_OK
    table = Table(show_edge=False, pad_edge=False)
    for col in ("#", "recorded", "host", "model", "plan", "context", "batch", "estimate", "measured peak", "held"):
        table.add_column(col)
    for r in rows:
        m, v = r["measured"], r.get("verify") or {}
        peak = v.get("peak") or {}
        est = peak.get("estimate_worst_bytes") or peak.get("estimate_bytes")
        table.add_row(str(r["id"]), r["recorded_at"][:16].replace("T", " "), r["host"], r["model"],
                      f"{m['precision']} / {m['engine']} / {m['device']}", f"{m['context']:,}", str(m["batch"]),
                      gib(est) if est else "-", f"{gib(m['peak_bytes'])} ({m['runs']} run{'s' if m['runs'] != 1 else ''})",
                      "✔" if v.get("held") else "✘")
    con.print(table)
    return EXIT_OK
