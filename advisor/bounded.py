"""One bounded reader for every input file: configs, headers, indexes, snapshots, JSON lines, stdin.

- Regular files only (links are followed; what they point to must be a regular file): a FIFO is opened with
  O_NONBLOCK, so it is refused at once instead of waited on, and a device (/dev/zero) is refused before a byte is
  read. Standard input is read only where the user names `-`.
- A byte cap per kind of file, enforced while reading (never trusting st_size, which is 0 for devices and /proc).
- JSON nesting depth checked in one linear pass before parsing (the parser would recurse past Python's limit).
Every refusal is a BadInputError naming the file and the cap: one line, exit 2.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from advisor.errors import BadInputError

KIB, MIB = 1024, 1024**2
CAPS = {"config": 4 * MIB, "index": 64 * MIB, "snapshot": 16 * MIB, "snapshots": 1024 * MIB, "header": 100 * MIB,
        "ref": 4 * KIB}
LINE_CAP = 16 * MIB  # one snapshot on one JSON line
MAX_JSON_DEPTH = 64
SCAN_BYTES = 1 * MIB
CHUNK = 1 << 20


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return name
    return "not a regular file"  # "is not a regular file"


def open_regular(path: str | Path, what: str) -> BinaryIO:
    """Open a regular file for reading without ever blocking on a FIFO.

    Raises:
        BadInputError: missing, unreadable, or not a regular file (FIFO, device, socket, directory).
    """
    p = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise BadInputError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise BadInputError(f"{p}: is a directory, not a {what} file") from None
    except OSError as exc:
        raise BadInputError(f"{p}: cannot read: {exc.strerror or exc}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise BadInputError(f"{p}: is {_kind(mode)}, not a {what} file; advisor reads regular files only")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_capped(handle: BinaryIO, cap: int, label: str, what: str) -> bytes:
    """At most `cap` bytes from an open stream; more is refused (counted while reading)."""
    chunks, total = [], 0
    while True:
        chunk = handle.read(min(CHUNK, cap + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > cap:
            raise BadInputError(f"{label}: larger than the {cap // MIB or 1} {'MiB' if cap >= MIB else 'KiB'} a {what} "
                                "file may have")
    return b"".join(chunks)


def read_file(path: str | Path, what: str, cap: int | None = None) -> bytes:
    """The bytes of a regular file of kind `what` (see CAPS), bounded."""
    limit = cap if cap is not None else CAPS.get(what, 16 * MIB)
    with open_regular(path, what) as handle:
        try:
            return read_capped(handle, limit, str(path), what)
        except OSError as exc:
            raise BadInputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_stdin(what: str, cap: int | None = None) -> bytes:
    """Standard input, which the user piped on purpose (`-`), bounded."""
    limit = cap if cap is not None else CAPS.get(what, 16 * MIB)
    stream = sys.stdin.buffer if hasattr(sys.stdin, "buffer") else sys.stdin
    return read_capped(stream, limit, "<stdin>", what)  # type: ignore[arg-type]


def lines(handle: BinaryIO, label: str, line_cap: int = LINE_CAP, total_cap: int | None = None) -> Iterator[bytes]:
    """The lines of a stream, each at most `line_cap` bytes (a longer one is refused while being read)."""
    total = 0
    limit = total_cap if total_cap is not None else CAPS["snapshots"]
    while True:
        line = handle.readline(line_cap + 1)
        if not line:
            return
        total += len(line)
        if len(line) > line_cap:
            raise BadInputError(f"{label}: a line longer than {line_cap // MIB} MiB (one snapshot per line)")
        if total > limit:
            raise BadInputError(f"{label}: larger than the {limit // MIB} MiB a JSON-lines file may have")
        yield line


_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def json_depth_ok(text: str, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """True when no array or object nests deeper than `max_depth` (strings removed first, in linear time)."""
    depth = 0
    for m in _BRACKETS.finditer(_STRING.sub("", text)):
        if m.group() in "[{":
            depth += 1
            if depth > max_depth:
                return False
        else:
            depth -= 1
    return True


def parse_json(data: bytes | str, label: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """JSON from bounded bytes: UTF-8, nested at most `max_depth` deep.

    Raises:
        BadInputError: not UTF-8, too deep, or not JSON (with the line and column).
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise BadInputError(f"{label}: not UTF-8 text") from None
    # small documents are checked for depth first; the parser itself stops a deeper one with RecursionError
    if len(text) <= SCAN_BYTES and not json_depth_ok(text, max_depth):
        raise BadInputError(f"{label}: JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"{label}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise BadInputError(f"{label}: JSON nested too deeply") from None
    except ValueError as exc:
        raise BadInputError(f"{label}: not valid JSON ({str(exc)[:80]})") from None
