"""Reading and writing snapshot files: validated on the way in, written atomically on the way out."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from advisor.errors import BadInputError, SnapshotError
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


def parse_snapshot(text: str | bytes, source: str) -> Snapshot:
    """Parse and validate snapshot JSON text (bounded depth)."""
    from advisor.bounded import parse_json

    try:
        data = parse_json(text, source)
    except BadInputError as exc:
        raise SnapshotError(str(exc)) from None
    return snapshot_from_data(data, source)


def load_snapshot(path: str | Path) -> Snapshot:
    """Read a snapshot file (a regular file, at most 16 MiB, or `-` for standard input).

    Raises:
        SnapshotError: unreadable, not a regular file, too large, not JSON, wrong schema version, or a bad field.
    """
    from advisor.bounded import read_file, read_stdin

    try:
        raw = read_stdin("snapshot") if str(path) == "-" else read_file(path, "snapshot")
    except SnapshotError:
        raise
    except BadInputError as exc:
        raise SnapshotError(str(exc)) from None
    return parse_snapshot(raw, "<stdin>" if str(path) == "-" else str(path))


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
