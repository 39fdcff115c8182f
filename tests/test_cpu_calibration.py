"""The CPU dataset (benchmarks/data/cpu-transformers.json) and the constants calibrated on it.

Every figure here is computed from the stored measurements: the rules' constants must be what the calibration
finds on the calibration half, and the held-out half is compared with the rules' own estimate.
"""

from __future__ import annotations

import json
from pathlib import Path

from advisor.calibration import CPU_CALIBRATION_MODELS, cpu_estimate, cpu_rows, fit_cpu_constants
from rules import memory as M

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "cpu-transformers.json"
ROWS = cpu_rows(DATA)


def test_the_dataset_is_large_enough_and_says_how_it_was_measured() -> None:
    doc = json.loads(DATA.read_text())
    assert len(doc["rows"]) >= 40 and doc["failures"] == []
    assert sum(run["seconds"] for run in doc["runs"]) < 30 * 60
    for row in doc["rows"]:
        c = row["conditions"]
        assert c["threads"] >= 1 and c["torch"] and c["transformers"] and c["attn_implementation"]
        assert row["peak_rss_generate_bytes"] >= row["rss_after_load_bytes"] > row["weight_bytes"]
    halves = {r.calibration for r in ROWS}
    assert halves == {True, False}
    assert {r.row["model"] for r in ROWS if r.calibration} == set(CPU_CALIBRATION_MODELS)


def test_our_weight_count_is_the_models_parameter_bytes() -> None:
    for r in ROWS:
        # the measured figure also counts buffers: rotary inv_freq tables, 256 bytes at most here
        assert 0 <= r.row["weight_bytes"] - r.weights <= 256, r.row["model"]


def test_rules_constants_are_what_the_calibration_half_gives() -> None:
    fit = fit_cpu_constants([r for r in ROWS if r.calibration])
    assert fit.process_bytes == M.TRANSFORMERS_CPU_PROCESS
    assert fit.act_base_bytes == M.TRANSFORMERS_CPU_ACT_BASE
    assert fit.act_factor == M.TRANSFORMERS_CPU_ACT_FACTOR
    assert fit.fp32_hidden_copies == M.TRANSFORMERS_CPU_FP32_HIDDEN
    assert fit.logits_copies == M.TRANSFORMERS_CPU_LOGITS
    assert fit.kv_copies == M.TRANSFORMERS_CPU_KV_COPIES


def test_calibration_half_is_never_underestimated() -> None:
    for r in ROWS:
        if r.calibration:
            assert r.measured <= cpu_estimate(r) <= 1.20 * r.measured, r.row


def test_held_out_half() -> None:
    """Target: never below, at most 10 % above. Reached: never below, median ~6 %, but 6 of 20 rows more than 10 %
    above (largest ~21 %, SmolLM2-360M bf16 2 048 x 4): see the README table. The measured peaks themselves move by
    up to ~19 % between fresh processes (ASLR and glibc's retained heap), so a row's worst of 2-3 runs is noisy too.
    This test holds what is reached so that it cannot silently get worse."""
    errors = [cpu_estimate(r) / r.measured - 1 for r in ROWS if not r.calibration]
    assert len(errors) >= 20
    assert min(errors) >= 0
    assert max(errors) < 0.22
    assert sorted(errors)[len(errors) // 2] < 0.07


def test_cpu_activations_never_shrink_as_the_prompt_grows() -> None:
    """Past the prompt length where the fp32 hidden state reaches glibc's mmap ceiling the heap term drops out;
    the estimate must still not fall below what a shorter prompt needs."""
    from advisor.models.resolve import resolve

    for name in ("Llama-3.2-1B-Instruct", "SmolLM2-135M-Instruct", "Qwen2.5-0.5B-Instruct", "gpt2"):
        spec = resolve(name)
        assert spec.hidden_size
        for batch in (1, 3, 4):
            cross = M.GLIBC_MMAP_CEILING // (spec.hidden_size * 4 * batch)
            prompts = sorted(set(range(max(1, cross - 64), cross + 2048)) | set(range(1, 40_000, 997)))
            for elem in (2, 4):
                values = [M.transformers_cpu_activations(spec, p, batch, elem) for p in prompts]
                assert all(b >= a for a, b in zip(values, values[1:], strict=False)), (name, batch, elem)
            # the heap term is there below the ceiling and gone above it
            assert M.heap_resident(cross * spec.hidden_size * 4 * batch - 1) > 0
            assert M.heap_resident((cross + 1) * spec.hidden_size * 4 * batch) == 0
