"""One helper for the tests of options that do not apply to a kind of model: a real subprocess, exit 2, one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.snapshots import NO_GPU


def assert_refused(args: list[str], needle: str, tmp_path: Path) -> None:
    """`advisor check ARGS` on a GPU-less snapshot exits 2 with one line on stderr that contains `needle`."""
    snap = tmp_path / "cpu.json"
    snap.write_text(NO_GPU.to_json())
    done = subprocess.run([sys.executable, "-m", "advisor", "check", *args, "--hardware", str(snap)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in done.stderr, done.stderr
