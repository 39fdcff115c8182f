"""Reading many snapshots for a report: files, directories, JSON-lines files and stdin.

Every input either becomes a host or a `Skipped` entry with its source and reason; nothing is dropped
silently. Snapshots are validated with the same schema as `advisor probe --hardware` uses.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from advisor.bounded import LINE_CAP, lines, open_regular, parse_json, read_file
from advisor.errors import BadInputError, SnapshotError
from advisor.snapshots import MAX_SNAPSHOT_BYTES, check_schema_version, snapshot_from_data
from probes.schema import SCHEMA_VERSION, Snapshot

SNAPSHOT_SUFFIXES = (".json", ".jsonl", ".ndjson")
MAX_LINES_FILE_BYTES = 4 * 1024**3  # a JSON-lines file of a large fleet; read line by line


@dataclass(frozen=True)
class Loaded:
    snapshot: Snapshot
    source: str  # path, path:line, or <stdin>


@dataclass(frozen=True)
class Skipped:
    source: str
    reason: str


def parse_one(text: str | bytes, source: str) -> Snapshot:
    """Validate one snapshot document. Fast path: pydantic parses the JSON itself; on any failure the slow
    path names the first problem the way `load_snapshot` does.

    Raises:
        SnapshotError: not JSON, not a snapshot, another major schema version, a bad field.
    """
    try:
        snap = Snapshot.model_validate_json(text)
    except ValidationError:
        pass
    else:
        if snap.schema_version.split(".")[0] == SCHEMA_VERSION.split(".")[0]:
            return snap
    try:
        data = parse_json(text, source)
    except BadInputError as exc:
        raise SnapshotError(str(exc)) from None
    check_schema_version(data, source)
    return snapshot_from_data(data, source)


def reason_of(exc: SnapshotError, source: str) -> str:
    """The error's message without the source it starts with (a Skipped names its source apart)."""
    text = str(exc)
    return text[len(source) + 2:] if text.startswith(source + ": ") else text


def _lines(path: Path, label: str) -> Iterator[Loaded | Skipped]:
    """A JSON-lines file, read line by line (each line and the whole file capped): one snapshot per line."""
    with open_regular(path, "JSON-lines") as fh:
        yield from _line_items(lines(fh, label, total_cap=MAX_LINES_FILE_BYTES), label)


def _line_items(lines: Iterator[bytes] | Iterator[str], label: str) -> Iterator[Loaded | Skipped]:
    items: Iterator[str | bytes] = lines  # each item is one or the other
    for n, raw in enumerate(items, 1):
        if not raw.strip():
            continue
        source = f"{label}:{n}"
        try:
            yield Loaded(parse_one(raw, source), source)
        except SnapshotError as exc:
            yield Skipped(source, reason_of(exc, source))


def _text_items(text: str | bytes, label: str) -> Iterator[Loaded | Skipped]:
    """A whole document: one snapshot, a JSON array of snapshots, or JSON lines."""
    stripped = text.lstrip()
    if stripped[:1] in ("[", b"["):
        try:
            items = parse_json(text, label)
        except BadInputError as exc:
            yield Skipped(label, reason_of(SnapshotError(str(exc)), label))
            return
        for i, item in enumerate(items):
            source = f"{label}[{i}]"
            try:
                check_schema_version(item, source)
                yield Loaded(snapshot_from_data(item, source), source)
            except SnapshotError as exc:
                yield Skipped(source, reason_of(exc, source))
        return
    try:
        yield Loaded(parse_one(text, label), label)
        return
    except SnapshotError as exc:
        first_error = exc
    rows = text.splitlines() if isinstance(text, str) else text.decode("utf-8", "replace").splitlines()
    if sum(1 for line in rows if line.strip()) > 1 and _looks_like_lines(rows):  # JSON lines in a .json file
        yield from _line_items(iter(rows), label)
        return
    yield Skipped(label, reason_of(first_error, label))


def _looks_like_lines(rows: list[str]) -> bool:
    """JSON lines start each non-blank line with an object; a pretty-printed document does not."""
    filled = [r for r in rows if r.strip()]
    return all(r.lstrip().startswith("{") for r in filled) and not any(r.startswith((" ", "\t")) for r in filled)


def _file_items(path: Path) -> Iterator[Loaded | Skipped]:
    label = str(path)
    try:
        if path.suffix in (".jsonl", ".ndjson"):
            yield from _lines(path, label)
            return
        raw = read_file(path, "snapshot", MAX_SNAPSHOT_BYTES)
    except BadInputError as exc:
        yield Skipped(label, reason_of(SnapshotError(str(exc)), label))
        return
    if not raw.strip():
        yield Skipped(label, "empty file")
        return
    yield from _text_items(raw, label)


def _stdin_items(stdin_text: str | None) -> Iterator[Loaded | Skipped]:
    """Standard input: one document (a snapshot or an array) up to the snapshot cap; beyond it, JSON lines read
    line by line, each line capped, so a stream without end (a device behind the pipe) is refused, not stored."""
    if stdin_text is not None:
        data: bytes = stdin_text.encode()
        stream = None
    else:
        stream = sys.stdin.buffer
        data = stream.read(MAX_SNAPSHOT_BYTES + 1)
    if not data.strip():
        yield Skipped("<stdin>", "no input on stdin")
        return
    if len(data) <= MAX_SNAPSHOT_BYTES or stream is None:
        yield from _text_items(data, "<stdin>")
        return
    head, _, tail = data.rpartition(b"\n")
    try:
        first = [row + b"\n" for row in head.split(b"\n")] if head else []
        more = lines(stream, "<stdin>")
        joined = tail + next(more, b"") if tail else b""
        if len(joined) > LINE_CAP:
            raise BadInputError("<stdin>: a line longer than 16 MiB (one snapshot per line)")
        rows = itertools.chain(first, [joined] if joined else [], more)
        yield from _line_items(rows, "<stdin>")
    except BadInputError as exc:
        yield Skipped("<stdin>", reason_of(SnapshotError(str(exc)), "<stdin>"))


def expand(sources: list[str]) -> tuple[list[Path | str], list[Skipped]]:
    """Files to read, in a stable order: directories walked (snapshot suffixes only), `-` kept for stdin."""
    files: list[Path | str] = []
    skipped: list[Skipped] = []
    for s in sources:
        if s == "-":
            files.append("-")
            continue
        p = Path(s)
        if p.is_dir():
            found = False
            for child in sorted(p.rglob("*")):
                if child.is_dir() or any(part.startswith(".") for part in child.relative_to(p).parts):
                    continue
                if child.suffix.lower() in SNAPSHOT_SUFFIXES:
                    files.append(child)
                    found = True
                else:
                    skipped.append(Skipped(str(child), "not a snapshot file (expected .json, .jsonl or .ndjson)"))
            if not found:
                skipped.append(Skipped(str(p), "directory holds no .json / .jsonl snapshot files"))
        elif p.exists():
            files.append(p)
        else:
            skipped.append(Skipped(s, "no such file or directory"))
    return files, skipped


def read_all(sources: list[str], progress: Callable[[int, int], None] | None = None,
             stdin_text: str | None = None) -> tuple[list[Loaded], list[Skipped]]:
    """Every snapshot the sources hold, and every input that was not one (with the reason)."""
    files, skipped = expand(sources)
    loaded: list[Loaded] = []
    for i, f in enumerate(files, 1):
        if f == "-":
            items: Iterator[Loaded | Skipped] = _stdin_items(stdin_text)
        else:
            items = _file_items(Path(f))
        for item in items:
            (loaded if isinstance(item, Loaded) else skipped).append(item)  # type: ignore[arg-type]
        if progress is not None:
            progress(i, len(files))
    return loaded, skipped
