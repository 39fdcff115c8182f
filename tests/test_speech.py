"""The speech workload (Whisper): 30 s windows, batch, beams and new tokens; sizes held to hand counts, the CPU
range to measurements, runtimes gated, settings to paste, and the options that do not apply refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor.cli import app
from advisor.models import catalog
from rules.plan import Request
from rules.workloads import decide
from rules.workloads import speech as sp
from tests.cli_refusals import assert_refused
from tests.range_checks import assert_calibrated
from tests.snapshots import NO_GPU, gpu, machine

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "benchmarks" / "data" / "cpu-speech.json"
MIB = 1024**2
runner = CliRunner()


def test_whisper_tiny_live_tensors_by_hand():
    s = catalog.spec_for("whisper-tiny").speech
    assert s is not None
    encoder, decode, logits = sp.live_elements(s, beams=1, new_tokens=444)
    # layer stage: 1,500 positions x (6 x 384 for the residual, its norm, q, k, v and the attention output
    # + 2 x 1,536 for the MLP's fc1 output and its GELU)
    assert encoder == 1500 * (6 * 384 + 2 * 1536) == 8_064_000
    # decoding: the encoder output + 4 layers' cross K and V over 1,500 positions + 4 layers' self K and V over
    # 448 tokens (the 4-token prompt + 444)
    assert decode == 1500 * 384 + 2 * 4 * 1500 * 384 + 2 * 4 * 384 * 448
    assert logits == 51865
    four_beams = sp.live_elements(s, beams=4, new_tokens=444)
    assert four_beams[1] == 4 * decode and four_beams[0] == encoder


def test_gpu_memory_grows_with_windows_and_beams():
    a100 = machine([gpu(0, "NVIDIA A100 80GB", 80, "8.0")])

    def acts(**kw):
        rec = decide(catalog.spec_for("whisper-large-v3"), a100, Request(engine="transformers", precision="fp16", **kw))
        assert rec.plan is not None
        return rec.plan.memory.activations_bytes

    assert acts(batch=8) == pytest.approx(8 * acts(batch=1), rel=1e-6)
    assert acts(beams=5) > 2 * acts(beams=1)  # the decoder's caches, repeated per beam, outgrow the encoder stage


def test_settings_name_the_loader_and_its_options():
    rec = decide(catalog.spec_for("whisper-large-v3"), machine([gpu(0, "NVIDIA GeForce RTX 3060", 12, "8.6")]),
                 Request(batch=4))
    from advisor.launch import settings_for

    assert rec.plan is not None and (rec.plan.precision, rec.plan.engine) == ("fp16", "transformers")
    s = settings_for(rec.plan, catalog.spec_for("whisper-large-v3"))
    assert 'pipeline("automatic-speech-recognition", model=\'openai/whisper-large-v3\'' in s["python"]
    assert "batch_size=4" in s["python"] and "torch.float16" in s["python"]
    cpu = decide(catalog.spec_for("whisper-small"), NO_GPU, Request(engine="faster-whisper", precision="int8",
                                                                    beams=5))
    assert cpu.plan is not None
    fw = settings_for(cpu.plan, catalog.spec_for("whisper-small"))
    assert "WhisperModel('small', device='cpu', compute_type='int8')" in fw["python"] and "beam_size=5" in fw["python"]


def test_faster_whisper_needs_cuda_and_bf16_needs_ampere():
    apple = decide(catalog.spec_for("whisper-small"), machine([gpu(0, "Apple M2 Max 96GB", 72, None)]),
                   Request(engine="faster-whisper"))
    assert not any(p.devices == ["gpu:0"] for p in [apple.plan, *apple.alternatives] if p)
    t4 = decide(catalog.spec_for("whisper-small"), machine([gpu(0, "Tesla T4", 15, "7.5")]),
                Request(engine="transformers", precision="bf16"))
    assert not any(p.devices == ["gpu:0"] for p in [t4.plan, *t4.alternatives] if p)
    assert any("bf16 needs compute capability" in r.reason for r in t4.rejected)


def test_cpu_range_is_the_calibration_and_holds_on_the_held_out_rows():
    sys.path.insert(0, str(REPO / "benchmarks"))
    import calibration_speech

    assert_calibrated(calibration_speech, sp, DATA, min_held=8)


@pytest.mark.parametrize("args,needle", [
    (["whisper-small", "--context", "4096"], "--context / --prompt are token counts of LLMs"),
    (["whisper-small", "--image-size", "640"], "--image-size applies to vision models"),
    (["whisper-small", "--new-tokens", "445"], "--new-tokens must be between 1 and 444"),
    (["whisper-small", "--beams", "0"], "--beams must be between 1 and 16"),
    (["whisper-small", "--engine", "vllm"], "does not run speech models"),
    (["whisper-small", "--audio-length", "ten minutes"], "not a length of audio"),
    (["llama3.1:8b", "--beams", "4"], "apply to speech models"),
    (["YOLOv8n", "--audio-length", "60s"], "apply to speech models"),
])
def test_options_that_do_not_apply_are_one_line_and_exit_2(args, needle, tmp_path):
    assert_refused(args, needle, tmp_path)


def test_fit_prints_windows_and_beams(tmp_path):
    snap = tmp_path / "3060.json"
    snap.write_text(machine([gpu(0, "NVIDIA GeForce RTX 3060", 12, "8.6", 11.6)], ram_gib=32).to_json())
    out = runner.invoke(app, ["fit", "whisper-large-v3", "--batch", "4", "--audio-length", "10m", "--hardware",
                              str(snap)])
    assert out.exit_code == 0, out.output
    assert "600 s of audio in 30 s windows, batch 4 windows, 1 beam(s)" in out.stdout
    assert "600 s of audio = 20 window(s)" in out.stdout and "largest batch" in out.stdout
    assert "KV cache" not in out.stdout and "context" not in out.stdout.split("Settings")[0].lower()
    doc = json.loads(runner.invoke(app, ["fit", "whisper-large-v3", "--hardware", str(snap), "--json"]).stdout)
    assert doc["plan"]["workload"] == "speech" and doc["plan"]["context"] is None and doc["plan"]["beams"] == 1


def test_no_fit_offers_a_batch_and_a_smaller_whisper():
    small_gpu = machine([gpu(0, "NVIDIA GeForce RTX 2060", 6, "7.5", 5.8)], ram_gib=4, ram_free_gib=1)
    spec = catalog.spec_for("whisper-large-v3")
    rec = decide(spec, small_gpu, Request(batch=16, engine="transformers", precision="fp16"),
                 siblings=catalog.family_of)
    assert not rec.fits
    batch = next(c for c in rec.changes if c.kind == "batch")
    n = int(batch.description.split()[1])
    assert decide(spec, small_gpu, Request(batch=n, engine="transformers", precision="fp16")).fits
    assert not decide(spec, small_gpu, Request(batch=n + 1, engine="transformers", precision="fp16")).fits
    smaller = next(c for c in rec.changes if c.kind == "smaller-model")
    assert smaller.plan is not None and smaller.plan.model in rec.smaller_models
    assert catalog.spec_for(smaller.plan.model).params_total < spec.params_total


def test_models_of_several_kinds_placed_together_see_what_the_others_leave():
    from advisor.models.resolve import resolve
    from rules.joint import place_models

    rtx4090 = machine([gpu(0, "NVIDIA GeForce RTX 4090", 24, "8.9", 23.3)], ram_gib=64)
    specs = [resolve("llama3.1:8b"), catalog.spec_for("whisper-small"), catalog.spec_for("YOLOv8x")]
    joint = place_models(specs, rtx4090, Request())
    assert joint.fits, joint.unplaced
    by_name = {r.model["name"]: r.plan for r in joint.placed}
    llm, asr = by_name["Llama-3.1-8B-Instruct"], by_name["whisper-small"]
    assert llm is not None and asr is not None and by_name["YOLOv8x"] is not None
    reserved = llm.per_device[0].reserved_bytes or llm.per_device[0].memory.total_bytes
    # whisper's GPU free memory is what the LLM engine's reservation left
    assert asr.per_device[0].free_bytes == pytest.approx(int(23.3 * 1024**3) - reserved, abs=2)
