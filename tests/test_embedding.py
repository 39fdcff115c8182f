"""The embedding workload: tokens per input and batch, live tensors by hand, the CPU range held to measurements,
settings to paste, and the options that do not apply refused."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor.cli import app
from advisor.models import catalog
from rules.plan import Request
from rules.workloads import decide
from rules.workloads import embedding as em
from tests.cli_refusals import assert_refused
from tests.range_checks import assert_calibrated
from tests.snapshots import NO_GPU, gpu, machine

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "benchmarks" / "data" / "cpu-embedding.json"
MIB = 1024**2
runner = CliRunner()


def test_live_tensors_by_hand():
    bge = catalog.spec_for("bge-large-en-v1.5")  # BERT-large: H 1024, a GELU MLP of 4096
    assert em.mlp_intermediates(bge) == 2
    assert em.live_elements(bge, 512) == 512 * (6 * 1024 + 2 * 4096) + 512 * 1024
    qwen = catalog.spec_for("Qwen3-Embedding-0.6B")  # a gated MLP (gate, up, product) of 3072 over H 1024
    assert em.mlp_intermediates(qwen) == 3
    # a decoder: its forward also builds the KV cache, 28 layers x K and V x 8 heads x 128 per token
    # and SDPA's math path (a padding-and-causal mask) holds one layer's 16 heads x T x T scores
    assert em.live_elements(qwen, 2048) == (2048 * (6 * 1024 + 3 * 3072) + 2048 * 1024 + 2048 * 28 * 2 * 8 * 128
                                            + 16 * 2048 * 2048)


def test_defaults_and_growth():
    spec = catalog.spec_for("bge-m3")
    a100 = machine([gpu(0, "NVIDIA A100 80GB", 80, "8.0")])
    rec = decide(spec, a100, Request())
    assert rec.plan is not None and rec.plan.context == 512 and rec.plan.precision == "fp16"  # capped at 512

    def acts(**kw):
        r = decide(spec, a100, Request(precision="fp16", **kw))
        assert r.plan is not None
        return r.plan.memory.activations_bytes

    assert acts(batch=32) == pytest.approx(32 * acts(batch=1), rel=1e-6)
    assert acts(context=8192) == pytest.approx(16 * acts(context=512), rel=1e-6)


def test_settings_and_units(tmp_path):
    snap = tmp_path / "4090.json"
    snap.write_text(machine([gpu(0, "NVIDIA GeForce RTX 4090", 24, "8.9", 23)]).to_json())
    out = runner.invoke(app, ["fit", "bge-m3", "--batch", "32", "--context", "8k", "--hardware", str(snap)])
    assert out.exit_code == 0, out.output
    assert "8,192 tokens per input, batch 32" in out.stdout and "inputs of 8,192 tokens" in out.stdout
    assert "SentenceTransformer('BAAI/bge-m3', device='cuda'" in out.stdout
    assert "model.max_seq_length = 8192" in out.stdout and "batch_size=32" in out.stdout
    assert "KV cache" not in out.stdout


@pytest.mark.parametrize("args,needle", [
    (["all-minilm", "--context", "4096"], "takes at most 512 tokens per input"),
    (["bge-m3", "--prompt", "128"], "--prompt applies to token LLMs"),
    (["bge-m3", "--engine", "vllm"], "does not run embedding models here"),
    (["bge-m3", "--precision", "Q4_K_M"], "not an embedding precision"),
    (["bge-m3", "--beams", "2"], "do not apply to bge-m3"),
    (["bge-m3", "--mode", "lora"], "inference only"),
])
def test_options_that_do_not_apply_are_one_line_and_exit_2(args, needle, tmp_path):
    assert_refused(args, needle, tmp_path)


def test_cpu_range_is_the_calibration_and_holds_on_the_held_out_rows():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import calibration_embedding

    assert_calibrated(calibration_embedding, em, DATA, min_held=8)


def test_cpu_plan_without_a_gpu():
    rec = decide(catalog.spec_for("all-MiniLM-L6-v2"), NO_GPU, Request(batch=64))
    assert rec.plan is not None and rec.plan.placement == "cpu" and rec.plan.memory.typical_total_bytes
