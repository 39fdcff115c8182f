"""The HTML report opened in a real headless Chromium: the script runs, sorting works, the chart is drawn.

Chromium comes from the system packages (`.ci/run` installs it and sets ADVISOR_REQUIRE_BROWSER=1, so in CI a
missing browser fails these tests). On a developer machine without Chromium they are skipped, saying why; the
parts of the HTML check that need no browser run everywhere (tests/test_report.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor.cli import app
from tests.fleetgen import fleet

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.fixture(autouse=True)
def browser() -> str:
    if BROWSER is None:
        if os.environ.get("ADVISOR_REQUIRE_BROWSER") == "1":
            pytest.fail("ADVISOR_REQUIRE_BROWSER=1 but no chromium on PATH: install Debian's chromium package")
        pytest.skip("no Chromium on this machine: `apt-get install chromium` to run the browser check (CI does)")
    return BROWSER


class Dom(HTMLParser):
    """The host table's rows (data-host and cell data-v values), the chart's bars, and <body>'s attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.rows: list[tuple[str, list[str | None]]] = []
        self.bars: list[str] = []
        self.fit_cells: list[tuple[str, str]] = []
        self._table: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "table":
            self._table = a.get("id")
        elif tag == "tr" and self._table == "hosts" and "data-host" in a:
            self.rows.append((a["data-host"] or "", []))
        elif tag == "td" and self._table == "hosts" and self.rows:
            self.rows[-1][1].append(a.get("data-v"))
        elif tag == "g" and (a.get("class") or "").startswith("bar"):
            self.bars.append(a.get("data-host") or "")
        elif tag == "rect" and a.get("class") == "fit-cell":
            self.fit_cells.append((a.get("data-host") or "", a.get("data-outcome") or ""))


def render(tmp_path: Path, hosts: int) -> Path:
    src = tmp_path / "fleet.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in fleet(hosts, seed=8)))
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", str(src), "-m", "llama3.1:8b", "--format", "html", "-o", str(out),
                                      "--stale-after", "10000d"])
    assert result.exit_code == 0, result.stderr
    return out


def dump_dom(url: str) -> Dom:
    assert BROWSER is not None
    proc = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--virtual-time-budget=5000", "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = Dom()
    dom.feed(proc.stdout)
    return dom


def test_the_report_runs_and_sorts_in_a_real_browser(tmp_path: Path) -> None:
    page = render(tmp_path, 40)
    plain = dump_dom(page.as_uri())
    assert plain.body.get("data-ready") == "true"  # the script ran to its end without an error
    assert len(plain.rows) == 40
    assert [h for h, _ in plain.rows] == sorted(h for h, _ in plain.rows)  # as written: by host name
    # every host with GPUs is drawn, those whose VRAM could not be read too (marked)
    hosts_with_gpus = sum(1 for _h, cells in plain.rows if float(cells[2] or 0) > 0)
    assert len(plain.bars) == hosts_with_gpus > 0
    # the fit map: one square per host and model, coloured by the outcome
    assert len(plain.fit_cells) == 40 and {o for _h, o in plain.fit_cells} <= {"all_gpu", "offload", "cpu",
                                                                              "cannot_tell", "no"}

    by_vram = dump_dom(page.as_uri() + "#sort=vram_total:desc")
    assert by_vram.body.get("data-ready") == "true"
    values = [float(cells[4] or -1) for _h, cells in by_vram.rows]
    assert values == sorted(values, reverse=True) and values[0] > values[-1]
    by_name = dump_dom(page.as_uri() + "#sort=host:desc")
    assert [h for h, _ in by_name.rows] == sorted((h for h, _ in plain.rows), reverse=True)


def test_the_report_renders_to_a_picture(tmp_path: Path) -> None:
    page = render(tmp_path, 12)
    shot = tmp_path / "shot.png"
    assert BROWSER is not None
    proc = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           f"--screenshot={shot}", "--window-size=1200,900", page.as_uri()],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0 and shot.stat().st_size > 10_000
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


class PlanDom(HTMLParser):
    """The fit picture's devices and their bar parts."""

    def __init__(self) -> None:
        super().__init__()
        self.devices: list[str] = []
        self.parts: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        if tag == "g" and a.get("class") == "device":
            self.devices.append(a.get("data-device") or "")
        elif tag == "rect" and a.get("class") == "part":
            self.parts.append(a.get("data-part") or "")


def test_the_fit_picture_opens_in_a_real_browser(tmp_path: Path) -> None:
    out = tmp_path / "plan.html"
    result = CliRunner().invoke(app, ["fit", "qwen2.5:72b", "--gpu", "2x H100", "--context", "32k", "--format", "html",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert BROWSER is not None
    proc = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--virtual-time-budget=3000", "--dump-dom", out.as_uri()], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = PlanDom()
    dom.feed(proc.stdout)
    assert dom.devices == ["gpu:0", "gpu:1"]  # tensor-parallel over both: a bar per GPU
    assert {"weights", "KV cache", "activations", "runtime"} <= set(dom.parts)
    assert {"verdict", "plan-bars", "settings", "runners-up"} <= dom.ids


def test_the_accuracy_plots_open_in_a_real_browser(tmp_path: Path) -> None:
    import sys

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    from benchmarks.calibration import cpu_comparisons, gguf_rows, measured_rows
    from benchmarks.plots import slug, write_plots

    rows = measured_rows(root / "tests" / "data" / "measured-dev.json") + gguf_rows(root / "tests" / "data" / "gguf-dev.json")
    rows += cpu_comparisons(root / "benchmarks" / "data" / "cpu-transformers.json")
    written = write_plots(rows, tmp_path)
    assert len(written) == len({r.dataset for r in rows}) >= 3
    assert BROWSER is not None
    for path in written:
        proc = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                               "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        expected = sum(1 for r in rows if slug(r.dataset) == path.stem)
        assert proc.stdout.count('class="point ') == expected > 0, path.name  # one point per row of the dataset
        assert 'class="band"' in proc.stdout and 'class="diagonal"' in proc.stdout
