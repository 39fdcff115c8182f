"""`advisor probe --format prometheus|k8s-labels`: parsed back with Prometheus' own parser, labels checked against
Kubernetes' rules."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from advisor.cli import app
from advisor.exporters import LABEL_NAME, LABEL_VALUE, label_value, to_k8s_labels, to_prometheus
from probes.schema import Snapshot
from tests.fakes import fake_pynvml as fk
from tests.fleetgen import fleet
from tests.snapshots import NO_GPU, gpu, machine

runner = CliRunner()


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def dgx() -> Snapshot:
    doc = next(d for d in fleet(60, seed=1) if d["host"]["hostname"].startswith("dgx") and d["nvml"]["status"] == "ok")
    return Snapshot.model_validate(doc)


def test_prometheus_text_parses_and_carries_every_gpu() -> None:
    snap = dgx()
    fams = families(to_prometheus(snap))
    total = {s.labels["uuid"]: s.value for s in fams["advisor_gpu_memory_total_bytes"].samples}
    free = {s.labels["uuid"]: s.value for s in fams["advisor_gpu_memory_free_bytes"].samples}
    assert total == {g.uuid: g.memory_total_bytes for g in snap.gpus}
    assert free == {g.uuid: g.memory_free_bytes for g in snap.gpus}
    assert all(f.type == "gauge" for f in fams.values())
    info = fams["advisor_gpu_info"].samples
    assert {s.labels["name"] for s in info} == {"NVIDIA H100 80GB HBM3"}
    assert {s.labels["compute_capability"] for s in info} == {"9.0"} and info[0].labels["fp8"] == "true"
    assert fams["advisor_memory_total_bytes"].samples[0].value == snap.memory.total_bytes
    assert fams["advisor_gpus"].samples[0].value == 8
    assert {s.labels["section"]: s.value for s in fams["advisor_probe_section_ok"].samples}["nvml"] == 1


def test_prometheus_escapes_label_values() -> None:
    snap = machine([gpu(0, 'Odd "GPU"\\ name\nline two', 24, "8.9")])
    fams = families(to_prometheus(snap))
    assert fams["advisor_gpu_info"].samples[0].labels["name"] == 'Odd "GPU"\\ name\nline two'


def test_prometheus_without_gpus_and_with_unknown_values() -> None:
    fams = families(to_prometheus(NO_GPU))
    assert fams["advisor_gpus"].samples[0].value == 0
    assert "advisor_gpu_memory_total_bytes" not in fams  # no sample rather than a made-up number
    ok = {s.labels["section"]: s.value for s in fams["advisor_probe_section_ok"].samples}
    assert ok["nvml"] == 0 and ok["memory"] == 1


def test_k8s_labels_follow_kubernetes_rules_and_gfd_names() -> None:
    labels = dict(to_k8s_labels(dgx()))
    for key, value in labels.items():
        prefix, _, name = key.partition("/")
        assert prefix == "advisor.local" and LABEL_NAME.match(name) and len(name) <= 63, key
        assert LABEL_VALUE.match(value) and len(value) <= 63, (key, value)
    assert labels["advisor.local/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert labels["advisor.local/gpu.memory"] == "81559"  # MiB, as GPU Feature Discovery writes it
    assert labels["advisor.local/gpu.count"] == "8"
    assert (labels["advisor.local/gpu.compute.major"], labels["advisor.local/gpu.compute.minor"]) == ("9", "0")
    assert labels["advisor.local/best-precision"] == "fp8" and labels["advisor.local/gpu.fp4"] == "false"
    assert labels["advisor.local/cuda.driver.major"] in ("550", "560", "570")


def test_k8s_labels_for_a_blackwell_and_a_cpu_node() -> None:
    b200 = machine([gpu(i, "NVIDIA B200", 179, "10.0") for i in range(2)])
    assert dict(to_k8s_labels(b200))["advisor.local/best-precision"] == "fp4"
    cpu = dict(to_k8s_labels(NO_GPU))
    assert cpu["advisor.local/gpu.present"] == "false" and cpu["advisor.local/best-precision"] == "cpu"


def test_label_values_are_made_valid() -> None:
    for text in ("NVIDIA GeForce RTX 4090", "-weird/name_", "x" * 100, "ü", ""):
        v = label_value(text)
        assert LABEL_VALUE.match(v) and 0 < len(v) <= 63, (text, v)


def test_probe_cli_formats_and_atomic_output(tmp_path: Path, install_nvml) -> None:  # noqa: ANN001
    install_nvml(fk.two_h100_busy())
    result = runner.invoke(app, ["probe", "--no-torch", "--format", "prometheus"])
    assert result.exit_code == 0, result.stderr
    fams = families(result.stdout)
    assert len(fams["advisor_gpu_memory_total_bytes"].samples) == 2
    out = tmp_path / "advisor.prom"
    result = runner.invoke(app, ["probe", "--no-torch", "--format", "prometheus", "-o", str(out)])
    assert result.exit_code == 0 and result.stdout == ""
    assert families(out.read_text())["advisor_gpus"].samples[0].value == 2
    assert [p.name for p in tmp_path.iterdir()] == ["advisor.prom"]
    result = runner.invoke(app, ["probe", "--no-torch", "--format", "k8s-labels"])
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and "advisor.local/gpu.count=2" in lines
    assert all("=" in line for line in lines)
    result = runner.invoke(app, ["probe", "--format", "yaml"])
    assert result.exit_code == 2 and "prometheus" in result.stderr


def test_exporters_read_saved_snapshots(tmp_path: Path) -> None:
    f = tmp_path / "s.json"
    f.write_text(json.dumps(fleet(1, seed=3)[0]))
    result = runner.invoke(app, ["probe", "--from", str(f), "--format", "k8s-labels"])
    assert result.exit_code == 0 and "advisor.local/gpu.present=" in result.stdout
