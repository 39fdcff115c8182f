"""`advisor probe` end to end: the real machine (no GPU here), simulated machines, saved snapshots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import psutil
import pytest
from typer.testing import CliRunner

from advisor import __version__
from advisor.cli import app
from advisor.commands.schema import schema_for
from advisor.snapshots import load_snapshot
from probes.snapshot import take_snapshot
from tests.fakes import fake_pynvml as fk

REPO = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((REPO / "schemas" / "snapshot.schema.json").read_text())
runner = CliRunner()


def test_published_schema_file_is_current():
    assert schema_for("snapshot") == SCHEMA, "run: advisor schema snapshot > schemas/snapshot.schema.json"


def test_probe_json_here_no_gpu(install_nvml):
    # The machine the tests run on has no NVIDIA driver; the fake says the same as real NVML would.
    install_nvml(fk.FakeMachine(init_error=fk.CODES["LIBRARY_NOT_FOUND"]))
    result = runner.invoke(app, ["probe", "--json", "--no-torch"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["memory"]["total_bytes"] == psutil.virtual_memory().total
    assert abs(doc["memory"]["available_bytes"] - psutil.virtual_memory().available) < 0.05 * doc["memory"]["total_bytes"]
    assert doc["gpus"] == []
    assert doc["nvml"]["status"] == "unavailable"
    assert doc["nvml"]["errors"] == ["NVML library not found (libnvidia-ml): no NVIDIA driver installed"]
    assert doc["schema_version"] == "1.0" and doc["tool"]["version"] == __version__
    for key in ("nvml", "memory", "cpu", "disk", "torch", "accelerators"):
        assert doc[key]["status"] in ("ok", "partial", "unavailable") and isinstance(doc[key]["errors"], list)


def test_probe_as_subprocess_prints_only_json():
    # The real pynvml on a machine without a driver: exit 0, JSON only on stdout.
    done = subprocess.run([sys.executable, "-m", "advisor", "probe", "--json", "--no-torch"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["memory"]["total_bytes"] == psutil.virtual_memory().total
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("machine", "expect"),
    [
        (fk.rtx_4090, {"names": ["NVIDIA GeForce RTX 4090"], "ccs": ["8.9"], "status": "ok"}),
        (fk.two_h100_busy, {"names": ["NVIDIA H100 80GB HBM3"] * 2, "ccs": ["9.0", "9.0"], "status": "ok"}),
        (fk.t4, {"names": ["Tesla T4"], "ccs": ["7.5"], "status": "ok"}),
        (fk.v100, {"names": ["Tesla V100-SXM2-16GB"], "ccs": ["7.0"], "status": "ok"}),
        (fk.a100_mig, {"names": ["NVIDIA A100-SXM4-40GB"], "ccs": ["8.0"], "status": "ok"}),
        (fk.gb10, {"names": ["NVIDIA GB10"], "ccs": ["12.1"], "status": "ok"}),
        (fk.lost_gpu, {"names": ["NVIDIA H100 80GB HBM3", None], "ccs": ["9.0", None], "status": "partial"}),
    ],
)
def test_simulated_machines_give_valid_snapshots(install_nvml, machine, expect, tmp_path):
    install_nvml(machine())
    snap = take_snapshot("test", with_torch=False, environ={"HF_HOME": str(tmp_path)})
    jsonschema.validate(json.loads(snap.to_json()), SCHEMA)
    assert [g.name for g in snap.gpus] == expect["names"]
    assert [g.compute_capability for g in snap.gpus] == expect["ccs"]
    assert snap.nvml.status == expect["status"]


def test_unified_memory_gpu_budgets_from_system_ram(install_nvml, tmp_path):
    install_nvml(fk.gb10())
    snap = take_snapshot("test", with_torch=False, environ={"HF_HOME": str(tmp_path)})
    (gpu,) = snap.gpus
    assert gpu.unified_memory and gpu.memory_info_version == "system-ram"
    assert gpu.memory_total_bytes == snap.memory.total_bytes
    assert gpu.memory_free_bytes == snap.memory.effective_available_bytes


def test_rich_view_shows_gpus_processes_and_gaps(install_nvml):
    install_nvml(fk.two_h100_busy())
    result = runner.invoke(app, ["probe", "--no-torch"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "NVIDIA H100 80GB HBM3" in out
    # GPU 1: 81559 MiB - 512 MiB reserved - 30 GiB held = 50327 MiB = 49.1 GiB; total 81559 MiB = 79.6 GiB
    assert "49.1 GiB free of 79.6 GiB" in out
    assert "pid 4242 python3 (compute)" in out and "holds 30.00 GiB" in out
    assert "BF16 FP16 FP8 INT8-TC" in out
    assert "Could not read:" in out and "torch probe skipped" in out


def test_output_file_is_written_and_loads_back(install_nvml, tmp_path):
    install_nvml(fk.a100_mig())
    target = tmp_path / "host.json"
    result = runner.invoke(app, ["probe", "--json", "--no-torch", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # the document went to the file
    snap = load_snapshot(target)
    assert snap.gpus[0].mig.enabled and len(snap.gpus[0].mig.instances) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["host.json"]  # no temp file left behind
    shown = runner.invoke(app, ["probe", "--from", str(target)])
    assert shown.exit_code == 0 and "MIG 1: 3g.20gb" in shown.stdout


def good_doc(install_nvml, tmp_path) -> dict:
    install_nvml(fk.rtx_4090())
    return json.loads(take_snapshot("t", with_torch=False, environ={"HF_HOME": str(tmp_path)}).to_json())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["gpus"][0].__setitem__("memory_total_bytes", "lots"),
         "field gpus.0.memory_total_bytes: Input should be a valid integer"),
        (lambda d: d.pop("memory"), "field memory: Field required"),
        (lambda d: d.__setitem__("schema_version", "2.0"),
         "field schema_version: '2.0' is not a 1.x snapshot this advisor reads; upgrade advisor to read it"),
        (lambda d: d["nvml"].__setitem__("status", "fine"), "field nvml.status: Input should be 'ok', 'partial'"),
        (lambda d: d["gpus"][0].__setitem__("vram", 1), "field gpus.0.vram: Extra inputs are not permitted"),
    ],
)
def test_bad_snapshot_names_file_and_field(install_nvml, tmp_path, mutate, message):
    doc = good_doc(install_nvml, tmp_path)
    mutate(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    result = runner.invoke(app, ["probe", "--from", str(bad)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"advisor: error: {bad}: {message}"), result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"schema_version": "1.0", "tool": ', "not valid JSON (line 1, column 35"),
        (b"[1, 2]", "not a snapshot (expected a JSON object)"),
        (b"\xff\xfe\x00", "not UTF-8 text"),
        (b"{}", "field schema_version: missing or not a string"),
    ],
)
def test_malformed_snapshot_files(tmp_path, content, message):
    bad = tmp_path / "x.json"
    bad.write_bytes(content)
    result = runner.invoke(app, ["probe", "--from", str(bad)])
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_missing_snapshot_file_and_directory(tmp_path):
    result = runner.invoke(app, ["probe", "--from", str(tmp_path / "nope.json")])
    assert result.exit_code == 2 and "nope.json: no such file" in result.stderr
    result = runner.invoke(app, ["probe", "--from", str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.stderr


def test_bad_snapshot_as_subprocess_has_no_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": "1.0"}')
    done = subprocess.run([sys.executable, "-m", "advisor", "probe", "--from", str(bad)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith(f"advisor: error: {bad}: field tool: Field required")
    assert "Traceback" not in done.stderr


def test_version_and_help():
    assert runner.invoke(app, ["--version"]).stdout.strip() == f"advisor {__version__}"
    result = runner.invoke(app, ["probe", "--help"])
    assert result.exit_code == 0 and "Example: advisor probe --json" in result.stdout
