"""Reading and writing snapshot files: validated on the way in, written atomically on the way out."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from advisor.errors import SnapshotError
from probes.schema import SCHEMA_VERSION, Snapshot

MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024  # a snapshot is a few KiB; refuse anything absurd


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(document)"


def check_schema_version(data: Any, source: str) -> None:
    """Refuse documents of another major schema version, naming both versions."""
    if not isinstance(data, dict):
        raise SnapshotError(f"{source}: not a snapshot (expected a JSON object)")
    version = data.get("schema_version")
    if not isinstance(version, str):
        raise SnapshotError(f"{source}: field schema_version: missing or not a string")
    ours = SCHEMA_VERSION.split(".")[0]
    theirs = version.split(".")[0]
    if theirs != ours:
        newer = theirs.isdigit() and int(theirs) > int(ours)
        hint = "; upgrade advisor to read it" if newer else ""
        raise SnapshotError(
            f"{source}: field schema_version: {version!r} is not a {ours}.x snapshot this advisor reads{hint}"
        )


def snapshot_from_data(data: Any, source: str) -> Snapshot:
    """Validate parsed JSON as a Snapshot.

    Raises:
        SnapshotError: naming the source and the first bad field.
    """
    check_schema_version(data, source)
    try:
        return Snapshot.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise SnapshotError(f"{source}: field {_field(first['loc'])}: {first['msg']}{tail}") from exc


def parse_snapshot(text: str, source: str) -> Snapshot:
    """Parse and validate snapshot JSON text."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from exc
    return snapshot_from_data(data, source)


def load_snapshot(path: str | Path) -> Snapshot:
    """Read a snapshot file.

    Raises:
        SnapshotError: unreadable, too large, not JSON, wrong schema version, or a bad field.
    """
    p = Path(path)
    try:
        if p.stat().st_size > MAX_SNAPSHOT_BYTES:
            raise SnapshotError(f"{p}: {p.stat().st_size} bytes is too large for a snapshot")
        raw = p.read_bytes()
    except IsADirectoryError as exc:
        raise SnapshotError(f"{p}: is a directory, not a snapshot file") from exc
    except OSError as exc:
        raise SnapshotError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SnapshotError(f"{p}: not UTF-8 text") from exc
    return parse_snapshot(text, str(p))


def write_atomic(path: str | Path, text: str) -> None:
    """Write text so that readers see the old file or the whole new one, never a part."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
