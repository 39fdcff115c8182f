"""Reading and writing snapshot files: validated on the way in, written atomically on the way out."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

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


def _prune(model: type[BaseModel], data: Any, where: str, dropped: list[str]) -> Any:
    """`data` without the fields `model` does not know (recursively), each listed in `dropped`."""
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            dropped.append(f"{where}{key}")
            continue
        inner = field.annotation
        for candidate in getattr(inner, "__args__", (inner,)):
            args = getattr(candidate, "__args__", ())
            target = args[0] if getattr(candidate, "__origin__", None) is list and args else candidate
            if isinstance(target, type) and issubclass(target, BaseModel):
                if isinstance(value, list):
                    value = [_prune(target, v, f"{where}{key}[{i}].", dropped) for i, v in enumerate(value)]
                elif isinstance(value, dict):
                    value = _prune(target, value, f"{where}{key}.", dropped)
                break
        out[key] = value
    return out


def newer_minor(data: Any) -> bool:
    """A snapshot of this major schema but a newer minor (which may carry fields this advisor does not know)."""
    version = data.get("schema_version") if isinstance(data, dict) else None
    if not isinstance(version, str) or "." not in version:
        return False
    ours, theirs = SCHEMA_VERSION.split("."), version.split(".")
    return theirs[0] == ours[0] and theirs[1].isdigit() and int(theirs[1]) > int(ours[1])


def snapshot_from_data(data: Any, source: str) -> Snapshot:
    """Validate parsed JSON as a Snapshot. A newer minor of this major schema is read with the fields this
    advisor does not know left out, and one stderr line says which.

    Raises:
        SnapshotError: naming the source and the first bad field.
    """
    check_schema_version(data, source)
    if newer_minor(data):
        dropped: list[str] = []
        data = _prune(Snapshot, data, "", dropped)
        if dropped:
            shown = ", ".join(dropped[:5]) + (f" and {len(dropped) - 5} more" if len(dropped) > 5 else "")
            sys.stderr.write(f"advisor: note: {source}: schema {data.get('schema_version')} is newer than "
                             f"{SCHEMA_VERSION}; ignored the fields this advisor does not know: {shown}\n")
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


SYSTEM_DIRS = ("/dev", "/proc", "/sys")


def _refuse_target(target: Path) -> None:
    """Where an atomic write must not go: system directories, anything that is not a regular file, a link out
    of the target's directory.

    Raises:
        BadInputError: naming the path and why.
    """
    directory = (target.parent if str(target.parent) else Path(".")).resolve()
    for system in SYSTEM_DIRS:
        if directory == Path(system) or Path(system) in directory.parents:
            raise BadInputError(f"{target}: advisor does not write into {system} (name a file in a directory of yours)")
    if not directory.is_dir():
        raise BadInputError(f"{target}: no such directory {directory}")
    if target.is_symlink():
        pointed = target.resolve()
        if pointed.parent != directory:
            raise BadInputError(f"{target}: a link out of its directory (to {pointed}); advisor does not follow it")
    if target.exists() and not target.is_file():
        raise BadInputError(f"{target}: exists and is not a regular file; advisor replaces regular files only")


def write_atomic(path: str | Path, text: str) -> None:
    """Write text so that readers see the old file or the whole new one, never a part. Only regular files, in a
    directory the user can name (never /dev, /proc or /sys, never through a link out of the directory); an
    existing file keeps its mode, a new one gets the usual 0666 less the umask.

    Raises:
        BadInputError: a target advisor refuses to write (see `_refuse_target`).
        OSError: the write itself failed.
    """
    target = Path(path)
    _refuse_target(target)
    if target.is_symlink():
        target = target.resolve()
    directory = target.parent if str(target.parent) else Path(".")
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
