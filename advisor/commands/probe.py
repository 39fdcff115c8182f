"""`advisor probe`: take a snapshot of this machine and show it, print it or write it."""

from __future__ import annotations

from pathlib import Path

from advisor.errors import BadInputError
from advisor.snapshots import load_snapshot, write_atomic
from advisor.version import __version__

FORMATS = ("rich", "json", "prometheus", "k8s-labels")


def run_probe(*, json_out: bool, output: Path | None, with_torch: bool, nvml_timeout: float, fmt: str,
              from_file: Path | None = None, refresh: bool = False) -> None:
    from advisor.output import console, emit_json
    from probes.snapshot import take_snapshot

    fmt = "json" if json_out else fmt.lower()
    if fmt not in FORMATS:
        raise BadInputError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if output is not None and output.is_dir():
        raise BadInputError(f"--output {output}: is a directory")
    if from_file is not None:
        snap = load_snapshot(from_file)
    else:
        snap = take_snapshot(__version__, with_torch=with_torch, nvml_timeout_s=nvml_timeout, refresh=refresh)
    if fmt in ("prometheus", "k8s-labels"):
        from advisor.exporters import labels_text, to_k8s_labels, to_prometheus, write_prometheus

        text = to_prometheus(snap) if fmt == "prometheus" else labels_text(to_k8s_labels(snap))
        if output is None:
            emit_json(text)
            return
        try:
            if fmt == "prometheus":
                write_prometheus(snap, str(output))  # node_exporter reads *.prom files: never a half-written one
            else:
                write_atomic(output, text)
        except OSError as exc:
            raise BadInputError(f"--output {output}: cannot write: {exc.strerror or exc}") from exc
        return
    if output is not None:
        try:
            write_atomic(output, snap.to_json() + "\n")
        except OSError as exc:
            raise BadInputError(f"--output {output}: cannot write: {exc.strerror or exc}") from exc
    if fmt == "json":
        if output is None:
            emit_json(snap.to_json())
        return
    from advisor.render.probe_view import render_snapshot

    render_snapshot(snap, console())
    if output is not None:
        console().print(f"snapshot written to {output}")
