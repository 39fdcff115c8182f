"""`advisor report`: one report over many snapshots (files, directories, JSON lines, stdin or the inventory)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from advisor.errors import EXIT_BAD_INPUT, EXIT_OK, BadInputError
from advisor.fleet_input import Loaded, Skipped, read_all
from advisor.fleet_report import Report, build_report
from advisor.requests import Asked, build_request, with_headroom_fraction
from probes.schema import Snapshot
from rules.fleet import Cell, MatrixDecider

FORMATS = ("rich", "csv", "tsv", "json", "markdown", "html")
PROGRESS_MIN_ITEMS = 200
COMPACT_JSON_HOSTS = 500  # below this, reading is too quick for a progress bar to help


class ModelColumn:
    """One model of the matrix; a percentage headroom becomes bytes per host, so deciders are kept per byte value."""

    def __init__(self, name: str, asked: Asked, measurements: Path | None = None) -> None:
        from advisor.models.resolve import resolve

        self.spec = resolve(name)
        self.asked = asked
        self.measurements = measurements  # the inventory whose recorded measurements apply to their hosts
        self._by_request: dict[Any, MatrixDecider] = {}

    def decide(self, snapshot: Snapshot) -> Cell:
        req = with_headroom_fraction(snapshot, self.asked)
        if self.measurements is not None:
            from advisor.verify.records import lookup

            found = lookup(self.measurements, snapshot, self.spec.name)
            if found:  # this host's own measurements: decided apart from the hosts that share its GPUs
                req = req.model_copy(update={"measured": found})
        key = (req.headroom_bytes, req.measured)
        decider = self._by_request.get(key)
        if decider is None:
            decider = self._by_request[key] = MatrixDecider(self.spec, req)
        return decider.decide(snapshot)


def parse_age(text: str) -> float:
    """ "36h", "7d", "90m", "3600" (seconds) -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    t = text.strip().lower()
    try:
        if t and t[-1] in units:
            value = float(t[:-1]) * units[t[-1]]
        else:
            value = float(t)
    except ValueError:
        raise BadInputError(f"--stale-after: not a duration: {text!r} (e.g. 36h or 7d)") from None
    if value <= 0:
        raise BadInputError(f"--stale-after: {text!r} must be more than zero")
    return value


@contextmanager
def _progress(label: str, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr when it is a terminal; nothing otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from advisor.output import console

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def gather(sources: list[str], db: Path | None) -> tuple[list[Loaded], list[Skipped]]:
    if db is not None:
        from advisor.inventory import Inventory

        loaded, skipped = Inventory(db, create=False).latest()
    else:
        loaded, skipped = [], []
    if sources:
        with _progress("reading snapshots", len(sources) > 1 or any(Path(s).is_dir() for s in sources if s != "-")) as bar:
            more, bad = read_all(sources, progress=bar)
        loaded += more
        skipped += bad
    return loaded, skipped


def run_report(sources: list[str], *, db: Path | None, models: list[str], fmt: str, output: Path | None,
               stale_after: str, **request: Any) -> int:
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise BadInputError(f"--format: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if not sources and db is None:
        raise BadInputError("name snapshot files, directories, JSON-lines files, - for stdin, or --db INVENTORY")
    if output is not None and output.is_dir():
        raise BadInputError(f"--output {output}: is a directory")
    stale_s = parse_age(stale_after)
    asked = build_request(**request)
    from advisor.state import default_inventory

    columns = {m: ModelColumn(m, asked, db or default_inventory()) for m in models}
    loaded, skipped = gather(sources, db)
    with _progress("deciding", bool(columns) and len(loaded) >= PROGRESS_MIN_ITEMS) as bar:
        report = build_report(loaded, skipped, columns, request=_request_doc(asked), stale_after_s=stale_s,  # type: ignore[arg-type]
                              progress=bar)
    if not report.hosts:
        _tell_skipped(skipped)
        sys.stderr.write("advisor: error: no host could be read from the inputs\n")
        return EXIT_BAD_INPUT
    text = render(report, fmt)
    if output is not None:
        from advisor.snapshots import write_atomic

        try:
            write_atomic(output, text)
        except OSError as exc:
            raise BadInputError(f"--output {output}: cannot write: {exc.strerror or exc}") from exc
    elif fmt != "rich":
        sys.stdout.write(text)
    if fmt == "rich" and output is None:
        from advisor.output import console
        from advisor.render.report_view import render_rich

        render_rich(report, console())
    if fmt != "rich" or output is not None:  # the rich view on the terminal lists them itself
        _tell_skipped(skipped)
    return EXIT_OK


def _tell_skipped(skipped: list[Skipped]) -> None:
    for sk in skipped:
        sys.stderr.write(f"advisor: skipped {sk.source}: {sk.reason}\n")


def _request_doc(asked: Asked) -> dict[str, Any]:
    doc = asked.request.model_dump()
    if asked.headroom_fraction is not None:
        doc["headroom_fraction"] = asked.headroom_fraction
    return doc


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        import json

        # indented for people up to a few hundred hosts; compact beyond (the C encoder: ~10x faster on big fleets)
        return json.dumps(report.to_dict(), indent=2 if len(report.hosts) <= COMPACT_JSON_HOSTS else None) + "\n"
    if fmt in ("csv", "tsv"):
        from advisor.render.report_text import to_csv

        return to_csv(report, "," if fmt == "csv" else "\t")
    if fmt == "markdown":
        from advisor.render.report_text import to_markdown

        return to_markdown(report)
    if fmt == "html":
        from advisor.render.report_html import to_html

        return to_html(report)
    from advisor.render.report_view import render_rich_text

    return render_rich_text(report)
