"""Each engine's own memory rules and settings, hand-computed: vLLM's share of the total, SGLang's static pool
after the weights, TensorRT-LLM's share of what is free after the weights, and the commands to paste."""

from __future__ import annotations

import json
import shlex

import pytest
from typer.testing import CliRunner

from advisor.cli import app
from advisor.launch.common import quantize_note
from advisor.models import catalog
from rules import engines
from rules.plan import Request
from rules.select import recommend
from tests.snapshots import GIB, gpu, machine

runner = CliRunner()
H100 = 79.6  # GiB NVML reports for an H100 80GB


def test_vllm_reserves_its_share_of_the_total():
    vllm = engines.get("vllm")
    # 80 GiB GPU, --gpu-memory-utilization 0.5: it takes 40 GiB; a plan needing 41 GiB does not fit in it
    r = vllm.reserve(30 * GIB, 8 * GIB, 3 * GIB, 80 * GIB, 80 * GIB, 72 * GIB, 0.5, False)
    assert r is not None and r.reserved_bytes == 40 * GIB and not r.fits
    r = vllm.reserve(30 * GIB, 8 * GIB, 1 * GIB, 80 * GIB, 80 * GIB, 72 * GIB, 0.5, False)
    assert r is not None and r.fits  # 39 GiB within 40


def test_sglang_static_pool_holds_weights_and_kv_and_the_rest_comes_on_top():
    sg = engines.get("sglang")
    # --mem-fraction-static 0.5 of 80 GiB = a 40 GiB pool for weights (30) + KV (8); activations + runtime (3)
    # come on top: 43 GiB reserved, within 72 GiB usable
    r = sg.reserve(30 * GIB, 8 * GIB, 3 * GIB, 80 * GIB, 80 * GIB, 72 * GIB, 0.5, False)
    assert r is not None and r.fits and r.reserved_bytes == 43 * GIB
    # a KV cache of 12 GiB no longer fits the pool (30 + 12 > 40), whatever room is left beside it
    r = sg.reserve(30 * GIB, 12 * GIB, 3 * GIB, 80 * GIB, 80 * GIB, 72 * GIB, 0.5, False)
    assert r is not None and not r.fits
    # chosen by advisor: the largest fraction (at most SGLang's 0.88) whose pool plus the rest stays within budget
    r = sg.reserve(30 * GIB, 8 * GIB, 3 * GIB, 80 * GIB, 80 * GIB, 72 * GIB, None, False)
    assert r is not None and r.fits and r.fraction == 0.86  # floor((72 - 3) / 80, 2 places)


def test_tensorrt_llm_fraction_is_of_the_memory_free_after_the_weights():
    trt = engines.get("tensorrt-llm")
    # free 80 GiB; weights 40 + activations and runtime 2 leave 38 GiB; 0.9 of it is a 34.2 GiB KV pool
    fits = trt.reserve(40 * GIB, 30 * GIB, 2 * GIB, 80 * GIB, 80 * GIB, 72 * GIB, 0.9, False)
    assert fits is not None and fits.fits and fits.reserved_bytes == 42 * GIB + int(0.9 * 38 * GIB)
    too_big = trt.reserve(40 * GIB, 35 * GIB, 2 * GIB, 80 * GIB, 80 * GIB, 72 * GIB, 0.9, False)
    assert too_big is not None and not too_big.fits  # 35 GiB of KV > 34.2 GiB
    # the same flag read as vLLM's share of the total (0.9 x 80 = 72 GiB) would have called the second one a fit
    vllm = engines.get("vllm").reserve(40 * GIB, 29 * GIB, 2 * GIB, 80 * GIB, 80 * GIB, 80 * GIB, 0.9, False)
    assert vllm is not None and vllm.fits


def test_sglang_plans_appear_in_fit_with_their_command():
    snap = machine([gpu(0, "NVIDIA H100 80GB HBM3", H100, "9.0"), gpu(1, "NVIDIA H100 80GB HBM3", H100, "9.0")])
    rec = recommend(catalog.spec_for("Qwen2.5-72B-Instruct"), snap, Request(engine="sglang", context=32768))
    assert rec.fits and rec.plan is not None and rec.plan.engine == "sglang"
    assert rec.plan.placement == "tensor-parallel" and rec.plan.tensor_parallel_size == 2
    use = rec.plan.per_device[0]
    assert rec.plan.gpu_memory_utilization is not None
    pool = int(rec.plan.gpu_memory_utilization * H100 * GIB)  # the static pool: fraction x total
    assert use.memory.weights_bytes + use.memory.kv_cache_bytes <= pool
    assert use.reserved_bytes == pool + use.memory.activations_bytes + use.memory.runtime_bytes
    result = runner.invoke(app, ["fit", "qwen2.5:72b", "--gpu", "2x H100", "--engine", "sglang", "--context", "32k",
                                 "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    args = shlex.split(doc["settings"]["command"])
    assert args[:3] == ["python", "-m", "sglang.launch_server"]
    assert args[args.index("--model-path") + 1] == "Qwen/Qwen2.5-72B-Instruct"
    assert args[args.index("--tp") + 1] == "2" and args[args.index("--context-length") + 1] == "32768"
    assert float(args[args.index("--mem-fraction-static") + 1]) == doc["plan"]["gpu_memory_utilization"]


def test_sglang_fp8_kv_cache_and_its_flag():
    result = runner.invoke(app, ["fit", "llama3.1:8b", "--gpu", "H100", "--engine", "sglang", "--kv-dtype", "fp8",
                                 "--json"])
    doc = json.loads(result.stdout)
    assert doc["plan"]["kv_dtype"] == "fp8" and "--kv-cache-dtype fp8_e4m3" in doc["settings"]["command"]


@pytest.mark.parametrize("name", ["vllm", "sglang", "tensorrt-llm"])
def test_gpu_engines_never_plan_on_the_cpu(name):
    rec = recommend(catalog.spec_for("Qwen2.5-0.5B-Instruct"), machine([]), Request(engine=name))
    assert not rec.fits and all(f"{name} needs a GPU" in r.reason for r in rec.rejected if r.placement == "cpu")


def test_sliding_window_and_latent_rules_come_from_the_engine():
    from rules import memory as M

    lite = catalog.spec_for("DeepSeek-V2-Lite")
    for name in ("vllm", "sglang", "tensorrt-llm", "llama.cpp"):
        assert engines.get(name).caches_latent
        assert M.kv_cache_bytes(lite, engines.get(name), 1024, 1, 2) == (512 + 64) * 2 * 27 * 1024
    assert not engines.get("transformers").caches_latent
    gemma2 = catalog.spec_for("gemma-2-9b-it")
    assert engines.get("sglang").caps_sliding_window(gemma2)
    assert M.kv_cache_bytes(gemma2, engines.get("sglang"), 8192, 1, 2) < M.kv_cache_bytes(
        gemma2.model_copy(update={"sliding_windows": []}), engines.get("sglang"), 8192, 1, 2)


def test_a_plan_in_a_prequantized_format_says_where_that_checkpoint_comes_from():
    result = runner.invoke(app, ["fit", "llama3.1:70b", "--gpu", "L40S", "--engine", "vllm", "--context", "4096",
                                 "--offline", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["plan"]["precision"] == "awq-int4"
    note = doc["settings"]["note"]
    assert "meta-llama/Llama-3.1-70B-Instruct-AWQ" in note and "AutoAWQ" in note
    # bf16 needs no other checkpoint, and a checkpoint already in the format needs no pointer to one
    plain = json.loads(runner.invoke(app, ["fit", "llama3.1:8b", "--gpu", "H100", "--engine", "vllm", "--offline",
                                           "--json"]).stdout)
    assert plain["plan"]["precision"] in ("bf16", "fp8") and not plain["settings"]["note"]
    spec = catalog.spec_for("Llama-3.1-70B-Instruct")
    rec = recommend(spec, machine([gpu(0, "NVIDIA L40S", 46.6, "8.9")]), Request(engine="vllm", context=4096))
    assert rec.plan is not None and rec.plan.precision == "awq-int4"
    assert quantize_note(rec.plan, spec) is not None
    assert quantize_note(rec.plan, spec.model_copy(update={"pinned_precision": "awq-int4"})) is None


def test_the_env_output_carries_the_checkpoint_note():
    result = runner.invoke(app, ["check", "llama3.1:70b", "--gpu", "L40S", "--engine", "vllm", "--context", "4096",
                                 "--offline", "--format", "env"])
    assert result.exit_code == 0, result.output
    values = dict(shlex.split(line)[0].split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert values["ADVISOR_PRECISION"] == "awq-int4" and "-AWQ" in values["ADVISOR_NOTE"]
    plain = runner.invoke(app, ["check", "llama3.1:8b", "--gpu", "H100", "--offline", "--format", "env"])
    assert "ADVISOR_NOTE=''" in plain.stdout.splitlines()
