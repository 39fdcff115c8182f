"""`advisor report`: every input kind, every format, bad inputs, and the matrix equal to `recommend`."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor.cli import app
from advisor.fleet_input import read_all
from advisor.models.resolve import resolve
from advisor.requests import build_request, with_headroom_fraction
from probes.schema import Snapshot
from rules.fleet import MatrixDecider
from rules.select import recommend
from tests.fleetgen import fleet, host

runner = CliRunner()
NOW = datetime.now(timezone.utc).isoformat(timespec="seconds")


def fresh_fleet(n: int, seed: int = 0) -> list[dict]:
    return fleet(n, seed=seed, taken_at=NOW)


def write_hosts(d: Path, docs: list[dict]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for i, doc in enumerate(docs):
        (d / f"host-{i:04d}.json").write_text(json.dumps(doc))


def report_json(*args: str, input: str | None = None) -> tuple[dict, str, int]:
    result = runner.invoke(app, ["report", *args, "--format", "json"], input=input)
    out = json.loads(result.stdout) if result.stdout.strip() else {}
    return out, result.stderr, result.exit_code


# --- inputs ----------------------------------------------------------------------------------------------------

def test_directory_jsonl_array_and_stdin_give_the_same_hosts(tmp_path: Path) -> None:
    docs = fresh_fleet(12)
    write_hosts(tmp_path / "dir", docs)
    lines = tmp_path / "fleet.jsonl"
    lines.write_text("".join(json.dumps(d) + "\n" for d in docs))
    array = tmp_path / "fleet.json"
    array.write_text(json.dumps(docs))
    expected = sorted(d["host"]["hostname"] for d in docs)
    for args, stdin in (([str(tmp_path / "dir")], None), ([str(lines)], None), ([str(array)], None),
                        (["-"], lines.read_text()), (["-"], json.dumps(docs[0]))):
        out, err, code = report_json(*args, input=stdin)
        assert code == 0, err
        hosts = [h["host"] for h in out["hosts"]]
        assert hosts == (expected if stdin != json.dumps(docs[0]) else [docs[0]["host"]["hostname"]]), args
        assert out["skipped"] == []


def test_totals_count_gpus_by_model_and_vram(tmp_path: Path) -> None:
    docs = fresh_fleet(30, seed=3)
    write_hosts(tmp_path, docs)
    out, _err, code = report_json(str(tmp_path))
    assert code == 0
    gpus = [g for d in docs for g in d["gpus"]]
    t = out["totals"]
    assert t["hosts"] == 30 and t["gpus"] == len(gpus)
    assert sum(t["gpus_by_model"].values()) == len(gpus)
    readable = [d for d in docs if all(g["memory_total_bytes"] is not None for g in d["gpus"])]
    assert t["vram_total_bytes"] == sum(g["memory_total_bytes"] for d in readable for g in d["gpus"])
    assert t["ram_total_bytes"] == sum(d["memory"]["total_bytes"] for d in docs)


def test_bad_inputs_are_listed_as_skipped_with_reasons(tmp_path: Path) -> None:
    good = fresh_fleet(2)
    write_hosts(tmp_path, good)
    (tmp_path / "broken.json").write_text('{"schema_version": "1.0", "host": ')  # truncated
    newer = dict(good[0], schema_version="2.0")
    (tmp_path / "newer.json").write_text(json.dumps(newer))
    wrong = dict(good[0])
    wrong["memory"] = {"status": "ok", "total_bytes": "lots"}
    (tmp_path / "wrong.json").write_text(json.dumps(wrong))
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty.json").write_text("")
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(json.dumps(fresh_fleet(3, seed=9)[2]) + "\n" + "not json\n")
    out, err, code = report_json(str(tmp_path))
    assert code == 0
    reasons = {Path(s["source"].split(":")[0]).name: s["reason"] for s in out["skipped"]}
    assert "not valid JSON" in reasons["broken.json"]
    assert "'2.0'" in reasons["newer.json"] and "upgrade advisor" in reasons["newer.json"]
    assert "memory.total_bytes" in reasons["wrong.json"]
    assert "not a snapshot file" in reasons["notes.txt"]
    assert reasons["empty.json"] == "empty file"
    assert any(s["source"].endswith("mixed.jsonl:2") for s in out["skipped"])
    assert len(out["hosts"]) == 3
    # every skipped input is also named on stderr, one line each
    assert err.count("advisor: skipped") == len(out["skipped"])


def test_nothing_readable_exits_2(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{}")
    result = runner.invoke(app, ["report", str(tmp_path / "a.json"), "--format", "csv"])
    assert result.exit_code == 2
    assert "no host could be read" in result.stderr
    result = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "no such file or directory" in result.stdout + result.stderr
    result = runner.invoke(app, ["report"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1


def test_duplicate_hosts_keep_the_newest_and_stale_ones_are_flagged(tmp_path: Path) -> None:
    rng = random.Random(4)
    old = host(1, rng, taken_at=(datetime.now(timezone.utc) - timedelta(days=3)).isoformat())
    new = json.loads(json.dumps(old))
    new["taken_at"] = NOW
    new["memory"]["available_bytes"] = new["memory"]["effective_available_bytes"] = 7 * 1024**3
    stale = host(2, rng, taken_at=(datetime.now(timezone.utc) - timedelta(days=10)).isoformat())
    (tmp_path / "x.jsonl").write_text("".join(json.dumps(d) + "\n" for d in (new, old, stale)))
    out, _err, code = report_json(str(tmp_path / "x.jsonl"), "--stale-after", "7d")
    assert code == 0
    rows = {h["host"]: h for h in out["hosts"]}
    assert len(rows) == 2
    assert rows[new["host"]["hostname"]]["ram_available_bytes"] == 7 * 1024**3
    kinds = {(p["host"], p["kind"]) for p in out["problems"]}
    assert (new["host"]["hostname"], "duplicate") in kinds
    assert (stale["host"]["hostname"], "stale") in kinds
    assert (new["host"]["hostname"], "stale") not in kinds


def test_partial_probes_are_problems_but_hosts_without_a_driver_are_not(tmp_path: Path) -> None:
    docs = fresh_fleet(80, seed=5)
    write_hosts(tmp_path, docs)
    out, _err, _code = report_json(str(tmp_path))
    partial = {d["host"]["hostname"] for d in docs if d["nvml"]["status"] == "partial"}
    cpu_only = {d["host"]["hostname"] for d in docs if not d["gpus"]}
    assert partial and cpu_only
    flagged = {p["host"] for p in out["problems"] if p["kind"] == "partial"}
    assert flagged == partial
    assert {h["host"] for h in out["hosts"] if h["status"] == "partial"} == partial


# --- the matrix ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [{}, {"context": "32k"}, {"engine": "llama.cpp"}, {"precision": "fp8"},
                                     {"headroom": "15%"}, {"mode": "qlora"}])
def test_matrix_cells_are_what_fit_would_choose(options: dict) -> None:
    docs = fresh_fleet(120, seed=11)
    asked = build_request(**options)
    for name in ("llama3.1:8b", "qwen2.5:72b"):
        spec = resolve(name)
        deciders: dict = {}
        for doc in docs:
            snap = Snapshot.model_validate(doc)
            req = with_headroom_fraction(snap, asked)
            decider = deciders.setdefault(req.headroom_bytes, MatrixDecider(spec, req))
            cell = decider.decide(snap)
            rec = recommend(spec, snap, req, advise=False)
            if rec.plan is None:
                assert not cell.fits and cell.cannot_tell == bool(rec.cannot_tell), (name, doc["host"])
            else:
                got = (cell.precision, cell.engine, cell.placement, list(cell.devices), cell.memory_bytes)
                want = (rec.plan.precision, rec.plan.engine, rec.plan.placement, rec.plan.devices, rec.plan.memory.total_bytes)
                assert got == want, (name, options, doc["host"]["hostname"])
        assert sum(d.evaluations for d in deciders.values()) < 3 * len(docs)  # hosts of a kind share the work


def test_matrix_in_the_report_names_plan_or_reason(tmp_path: Path) -> None:
    docs = fresh_fleet(40, seed=2)
    write_hosts(tmp_path, docs)
    out, _err, code = report_json(str(tmp_path), "-m", "qwen2.5:72b", "-m", "llama3.1:8b", "--context", "8k",
                                  "--engine", "vllm")
    assert code == 0 and out["models"] == ["qwen2.5:72b", "llama3.1:8b"]
    gpus = {d["host"]["hostname"]: d["gpus"] for d in docs}
    cells = {h["host"]: h["cells"]["qwen2.5:72b"] for h in out["hosts"]}
    assert any(c["fits"] for c in cells.values()) and any(not c["fits"] for c in cells.values())
    for name, c in cells.items():
        if c["fits"]:
            assert c["engine"] == "vllm" and c["precision"] and c["memory_bytes"] > 0
        elif any(g["memory_total_bytes"] for g in gpus[name]):
            assert "needs" in c["reason"] and "usable" in c["reason"], c
        elif gpus[name]:  # its only GPU could not be read: it may hold the model, so advisor cannot tell
            assert c["cannot_tell"] and c["reason"].startswith("GPU 0 (NVIDIA GeForce RTX 4090) could not be read"), c
        else:
            assert c["reason"] == "no precision / engine of this model runs on this host's devices"
    assert out["request"]["context"] == 8192


def test_unknown_model_or_bad_option_is_one_line_exit_2(tmp_path: Path) -> None:
    write_hosts(tmp_path, fresh_fleet(2))
    for args in (["-m", "no-such-model-xyz"], ["--context", "lots"], ["--format", "xml"], ["--stale-after", "soon"]):
        result = runner.invoke(app, ["report", str(tmp_path), *args])
        assert result.exit_code == 2, args
        assert result.stderr.count("\n") == 1 and result.stdout == "", args


# --- formats ---------------------------------------------------------------------------------------------------

def test_csv_has_a_row_per_host_and_a_column_per_model(tmp_path: Path) -> None:
    docs = fresh_fleet(15, seed=6)
    write_hosts(tmp_path, docs)
    result = runner.invoke(app, ["report", str(tmp_path), "-m", "llama3.1:8b", "--format", "csv"])
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 15
    by_host = {r["host"]: r for r in rows}
    for d in docs:
        r = by_host[d["host"]["hostname"]]
        assert int(r["ram_total_bytes"]) == d["memory"]["total_bytes"]
        assert int(r["gpu_count"]) == len(d["gpus"])
        cell = r["llama3.1:8b"]
        assert cell.startswith(("no:", "cannot tell:")) or len(cell.split(" · ")) == 3, cell


def test_markdown_has_every_section(tmp_path: Path) -> None:
    write_hosts(tmp_path, fresh_fleet(10, seed=5))
    (tmp_path / "bad.json").write_text("[")
    result = runner.invoke(app, ["report", str(tmp_path), "-m", "llama3.1:8b", "--format", "markdown"])
    assert result.exit_code == 0
    md = result.stdout
    for heading in ("# Fleet report", "## Hosts", "## Models", "## Skipped"):
        assert heading in md
    table = [line for line in md.splitlines() if line.startswith("| ") and "GiB" in line]
    assert len(table) >= 10 and all(line.count("|") == table[0].count("|") for line in table[:10])


def test_rich_view_and_output_file(tmp_path: Path) -> None:
    write_hosts(tmp_path / "in", fresh_fleet(5, seed=1))
    result = runner.invoke(app, ["report", str(tmp_path / "in"), "-m", "llama3.1:8b"])
    assert result.exit_code == 0
    assert "Hosts (5)" in result.stdout and "Fleet" in result.stdout and "llama3.1:8b" in result.stdout
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(tmp_path / "in"), "--format", "html", "-o", str(out)])
    assert result.exit_code == 0 and result.stdout == ""
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert list(tmp_path.glob(".r.html.*")) == []  # written atomically, no temporary left


def test_html_escapes_what_snapshots_say(tmp_path: Path) -> None:
    doc = fresh_fleet(1)[0]
    doc["host"]["hostname"] = "<script>alert(1)</script>"
    doc["cpu"]["model"] = '"><img src=x onerror=alert(2)>'
    write_hosts(tmp_path, [dict(doc, host=dict(doc["host"]))])
    from advisor.commands.report import render
    from advisor.fleet_report import build_report

    loaded, skipped = read_all([str(tmp_path)])
    html = render(build_report(loaded, skipped), "html")
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html


def test_html_is_self_contained_with_a_bar_per_host_and_sortable_columns(tmp_path: Path) -> None:
    """What can be checked without a browser (test_report_browser.py runs the page in Chromium)."""
    docs = fresh_fleet(20, seed=8)
    write_hosts(tmp_path, docs)
    from advisor.commands.report import render
    from advisor.fleet_report import build_report

    loaded, skipped = read_all([str(tmp_path)])
    html = render(build_report(loaded, skipped), "html")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing fetched from elsewhere
    assert "<link" not in html and "@import" not in html
    with_vram = [d for d in docs if d["gpus"] and all(g["memory_total_bytes"] for g in d["gpus"])]
    assert html.count('<g class="bar"') == len(with_vram) > 0
    assert html.count("<tr data-host=") == 20
    for col in ("host", "vram_total", "vram_free", "ram_total", "status"):
        assert f'<th data-col="{col}"' in html


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    write_hosts(tmp_path, fresh_fleet(3))
    proc = subprocess.run([sys.executable, "-m", "advisor", "report", str(tmp_path), "--format", "json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == ""
    assert len(json.loads(proc.stdout)["hosts"]) == 3


def test_matrix_counts_gpu_plans_and_cpu_plans_apart(tmp_path: Path) -> None:
    docs = fresh_fleet(30, seed=11)
    write_hosts(tmp_path, docs)
    out, _err, code = report_json(str(tmp_path), "-m", "llama3.1:8b")
    assert code == 0
    counts = out["fit_counts"]["llama3.1:8b"]
    cells = [h["cells"]["llama3.1:8b"] for h in out["hosts"]]
    assert counts["all_gpu"] == sum(1 for c in cells if c["fits"] and c["speed_class"] == "all-gpu")
    assert counts["cpu"] == sum(1 for c in cells if c["fits"] and c["speed_class"] == "cpu")
    assert sum(counts.values()) == len(cells)
    assert counts["cpu"] > 0 and counts["all_gpu"] > 0  # the fleet has hosts without GPUs and hosts with
    text = runner.invoke(app, ["report", str(tmp_path), "-m", "llama3.1:8b", "--format", "markdown"]).stdout
    assert f"llama3.1:8b ({counts['all_gpu']} on GPU" in text and f"{counts['cpu']} CPU only" in text
    html = runner.invoke(app, ["report", str(tmp_path), "-m", "llama3.1:8b", "--format", "html"]).stdout
    assert 'class="fit-cpu"' in html and 'class="fit"' in html
