"""The memory model: hand-computed components, calibration against published measurements."""

from __future__ import annotations

from pathlib import Path

import pytest

from advisor.models import catalog
from benchmarks.calibration import gguf_rows, measured_rows
from rules import memory as M
from rules.engines import get as E
from rules.precisions import BY_NAME
from rules.select import nominal_params, rule_of_thumb_bytes_per_param

DATA = Path(__file__).parent / "data"
GIB = 1024**3


@pytest.mark.parametrize("row", measured_rows(DATA / "measured-dev.json"), ids=lambda c: c.label)
def test_transformers_estimate_against_published_measurements(row):
    # Never a false "fits": the estimate is at least the measurement, and at most 10 % above it.
    assert row.measured <= row.estimate <= 1.10 * row.measured, f"{row.label}: {row.estimate:.2f} vs {row.measured}"


@pytest.mark.parametrize("row", measured_rows(DATA / "measured-heldout.json"), ids=lambda c: c.label)
def test_transformers_estimate_against_held_out_measurements(row):
    """The same benchmark's other 100 rows (0.5B to 72B, BF16, GPTQ-Int8, GPTQ-Int4, AWQ, prompts 1 to 30 720, one to
    two GPUs), never used to fit a constant: `advisor fit`'s plan is never below and at most 10 % above."""
    assert row.measured <= row.estimate <= 1.10 * row.measured, f"{row.label}: {row.estimate:.3f} vs {row.measured}"


@pytest.mark.parametrize("row", measured_rows(DATA / "measured-qwen3-lowerbound.json"), ids=lambda c: c.label)
def test_transformers_estimate_is_never_below_the_qwen3_figures(row):
    """The Qwen3 benchmark's 80 rows (H20; BF16, FP8 checkpoints, AWQ, GPTQ-Int8; 0.6B to 32B and 30B-A3B) read
    below what a one-pass prefill holds at long prompts, so they bound the estimate from below only."""
    assert row.measured <= row.estimate, f"{row.label}: {row.estimate:.3f} vs {row.measured}"


@pytest.mark.parametrize("row", gguf_rows(DATA / "gguf-dev.json"), ids=lambda c: c.label)
def test_gguf_sizes_against_published_files(row):
    # Published bits per weight are rounded to 4 decimals; files include metadata we estimate.
    assert row.measured - 0.0001 <= row.estimate <= 1.03 * row.measured, f"{row.label}: {row.estimate} vs {row.measured}"


def test_rule_of_thumb_llama2_7b_fp16_is_28_gb():
    spec = catalog.spec_for("Llama-2-7B")
    assert nominal_params(spec) == 7_000_000_000  # the quoted size, not the exact 6.74 B
    assert M.rule_of_thumb_bytes(nominal_params(spec), rule_of_thumb_bytes_per_param("fp16")) == 28_000_000_000


def test_weights_float_and_quantized_hand_computed():
    spec = catalog.spec_for("Llama-2-7B")
    assert M.weight_split(spec, BY_NAME["fp16"]).total == 6_738_415_616 * 2
    assert M.weight_split(spec, BY_NAME["fp32"]).total == 6_738_415_616 * 4
    # GPTQ 4-bit, group 128, per matrix of K inputs and N outputs: qweight K*N/2, qzeros K/128*N/2, scales fp16
    # 2*K/128*N, g_idx int32 4*K; embeddings, head and norms stay 16-bit. 3,893,862,400 bytes is what
    # TheBloke/Llama-2-7B-GPTQ stores besides the zero biases AutoGPTQ 0.7 adds to every matrix.
    mats = [(4096, 4096)] * 4 + [(4096, 11008)] * 2 + [(11008, 4096)]
    per_layer = sum(k * n // 2 + k // 128 * n // 2 + 2 * (k // 128) * n + 4 * k for k, n in mats)
    rest = spec.params_total - spec.params_by_group["attention"] - spec.params_by_group["mlp"]
    assert M.weight_split(spec, BY_NAME["gptq-int4"]).total == 32 * per_layer + rest * 2 == 3_893_862_400


def test_kv_cache_hand_computed():
    llama2 = catalog.spec_for("Llama-2-7B")
    # 2 x 32 layers x 32 KV heads x 128 dims x 2 bytes = 524,288 bytes per token; 4096 tokens = 2 GiB
    assert M.kv_cache_bytes(llama2, E("transformers"), 4096, 1, 2) == 2 * GIB
    assert M.kv_cache_bytes(llama2, E("transformers"), 4096, 4, 2) == 8 * GIB
    assert M.kv_cache_bytes(llama2, E("vllm"), 4096, 1, 1) == GIB  # fp8 KV


def test_kv_cache_grouped_query_attention():
    llama3 = catalog.spec_for("Llama-3.1-8B-Instruct")
    # 8 KV heads instead of 32: 2 x 32 x 8 x 128 x 2 = 131,072 bytes per token
    assert M.kv_cache_bytes(llama3, E("transformers"), 8192, 1, 2) == 131_072 * 8192


def test_sliding_window_capped_where_the_engine_caps_it():
    mistral = catalog.spec_for("Mistral-7B-v0.1")
    per_token = 2 * 32 * 8 * 128 * 2
    assert M.kv_cache_bytes(mistral, E("vllm"), 32768, 1, 2) == per_token * 4096
    assert M.kv_cache_bytes(mistral, E("transformers"), 32768, 1, 2) == per_token * 32768  # dynamic cache keeps all
    gemma2 = catalog.spec_for("gemma-2-9b-it")
    per_layer_token = 2 * 8 * 256 * 2
    # 21 sliding layers hold 4096 tokens, 21 global layers hold all 8192
    assert M.kv_cache_bytes(gemma2, E("transformers"), 8192, 1, 2) == per_layer_token * (21 * 4096 + 21 * 8192)


def test_mla_latent_vs_full():
    lite = catalog.spec_for("DeepSeek-V2-Lite")
    # vLLM caches the latent: (512 + 64) x 2 bytes x 27 layers per token
    assert M.kv_cache_bytes(lite, E("vllm"), 1024, 1, 2) == (512 + 64) * 2 * 27 * 1024
    # transformers caches full K (16 x (128 + 64)) and V (16 x 128)
    assert M.kv_cache_bytes(lite, E("transformers"), 1024, 1, 2) == 16 * (128 + 64 + 128) * 2 * 27 * 1024


def test_llama_cpp_kv_dtypes():
    llama3 = catalog.spec_for("Llama-3.1-8B-Instruct")
    f16 = M.kv_cache_bytes(llama3, E("llama.cpp"), 4096, 1, 2)
    q8 = M.kv_cache_bytes(llama3, E("llama.cpp"), 4096, 1, 34 / 32)
    q4 = M.kv_cache_bytes(llama3, E("llama.cpp"), 4096, 1, 18 / 32)
    assert (q8, q4) == (f16 * 17 // 32, f16 * 9 // 32)


def test_training_memory():
    spec = catalog.spec_for("Llama-3.1-8B-Instruct")
    assert M.ADAMW_BYTES_PER_PARAM == 2 + 2 + 4 + 8
    with_ckpt = M.training_activations(spec, 2048, 1, True)
    without = M.training_activations(spec, 2048, 1, False)
    assert with_ckpt < without
    # LoRA rank 16 on q, k, v, o: 16 x ((4096 + 4096) + 2 x (4096 + 1024) + (4096 + 4096)) x 32 layers
    assert M.lora_params(spec, 16) == 16 * (8192 + 2 * 5120 + 8192) * 32


def test_smaller_format_never_needs_more_weight_memory():
    spec = catalog.spec_for("Qwen2.5-7B-Instruct")
    # (MXFP4 as gpt-oss ships it quantizes MoE experts only: a dense model has none)
    rows = sorted((p for p in BY_NAME.values() if p.family != "gguf" and "mlp" in p.quantized_groups),
                  key=lambda p: p.bits)
    sizes = {p.name: M.weight_split(spec, p).total for p in rows}
    # fewer bits per weight is always fewer bytes (formats of equal nominal bits differ by their scale layouts)
    for a in rows:
        for b in rows:
            if a.bits < b.bits:
                assert sizes[a.name] < sizes[b.name], (a.name, b.name)
    from rules.gguf_mix import MIXES, TYPE_BITS

    mixes = sorted(MIXES, key=lambda m: M.weight_split(spec, BY_NAME[m]).total)
    bases = [TYPE_BITS[MIXES[m].base] for m in mixes]
    assert bases == sorted(bases)  # the ordering by size follows the base type's bits


def test_the_prompt_sizes_the_prefill_and_the_context_the_kv_cache():
    from rules.plan import Request
    from rules.select import recommend
    from tests.snapshots import rtx4090

    spec = catalog.spec_for("Qwen2.5-7B-Instruct")
    whole = recommend(spec, rtx4090(), Request(engine="transformers", precision="bf16", context=16384))
    short = recommend(spec, rtx4090(), Request(engine="transformers", precision="bf16", context=16384, prompt=1024))
    assert whole.plan is not None and short.plan is not None
    w, s = whole.plan.memory, short.plan.memory
    assert s.kv_cache_bytes == w.kv_cache_bytes  # the KV cache holds the whole sequence either way
    # the prefill's working memory: (3 x FFN + 4 x hidden) x 2 bytes per token, on the allocator's workspace and one
    # decoder layer's weights in flight, plus the last position's logits (rules/engines/transformers.py)
    from rules.engines.transformers import TRANSFORMERS_BASE

    h, f = 3584, 18944  # Qwen2.5-7B's config: hidden_size, intermediate_size
    assert (spec.hidden_size, spec.intermediate_size) == (h, f)
    # one layer in bf16: q and o (h x h, q with a bias), k and v (h x 512 with biases), gate/up/down, two norms
    # (the final norm's 3,584 parameters are spread over the 28 layers: 256 bytes each)
    layer = 2 * ((h * h + h) + 2 * (h * 512 + 512) + h * h + 3 * h * f + 2 * h) + 2 * h // 28
    per_token = (3 * f + 4 * h) * 2
    logits = spec.vocab_size * 4 * 2
    fixed = TRANSFORMERS_BASE + layer
    assert w.prefill_bytes is None and w.total_bytes == (w.weights_bytes + w.kv_cache_bytes + fixed
                                                         + 16384 * per_token + logits + w.runtime_bytes)
    # a shorter prompt: the peak is the larger phase. The prefill holds the prompt's KV (28 layers x K and V x 4
    # heads x 128 x 2 bytes per token) and its working memory; the end of decode the whole cache, one layer's K/V
    # copied by the cache's concatenation and the step's fp32 logits
    kv_token = 28 * 2 * 4 * 128 * 2
    prefill = s.weights_bytes + 1024 * kv_token + fixed + 1024 * per_token + logits + s.runtime_bytes
    one_layer = 2 * 4 * 128 * 16384 * 2
    decode = s.weights_bytes + 16384 * kv_token + fixed + 2 * one_layer + spec.vocab_size * 4 + s.runtime_bytes
    assert (s.prefill_bytes, s.decode_bytes) == (prefill, decode)
    assert s.total_bytes == max(prefill, decode) < w.total_bytes
    assert short.plan.prompt == 1024 and whole.plan.prompt is None


def test_mxfp4_moe_gguf_of_gpt_oss_matches_the_published_file():
    """lmstudio-community/gpt-oss-20b-GGUF gpt-oss-20b-MXFP4.gguf is 12,109,565,632 bytes (its Hub file listing, as
    quoted in public download manifests): MXFP4 experts, Q8_0 elsewhere."""
    from advisor.models import catalog

    spec = catalog.spec_for("gpt-oss-20b")
    size = M.weight_split(spec, BY_NAME["MXFP4_MOE"]).total + M.gguf_metadata_bytes(spec)
    assert abs(size / 12_109_565_632 - 1) < 0.01
    dense = catalog.spec_for("Qwen2.5-7B-Instruct")
    from rules.plan import Request
    from rules.select import candidate_precisions

    offered, _ = candidate_precisions(dense, Request())
    assert not {"mxfp4", "MXFP4_MOE"} & {p.name for p in offered}  # expert-only formats: not for dense models


@pytest.mark.parametrize(("model", "precision", "stored", "source"), [
    # the sums of real checkpoints' safetensors headers (a third-party audit of the headers, cited by the research
    # notes of issue 18) and an index total_size
    ("Llama-3.3-70B-Instruct", "nvfp4", 42_709_045_632, "nvidia/Llama-3.3-70B-Instruct-FP4, headers"),
    ("gpt-oss-20b", "mxfp4", 13_761_264_768, "openai/gpt-oss-20b, model.safetensors.index.json total_size"),
    # the packers' layouts applied to Qwen's published repos (g_idx on every matrix, the q/k/v biases in fp16)
    ("Qwen2.5-7B-Instruct", "gptq-int4", 5_575_277_568, "Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4 layout"),
    ("Qwen2.5-7B-Instruct", "gptq-int8", 8_863_411_200, "Qwen/Qwen2.5-7B-Instruct-GPTQ-Int8 layout"),
    ("Qwen2.5-7B-Instruct", "awq-int4", 5_570_747_392, "Qwen/Qwen2.5-7B-Instruct-AWQ layout"),
])
def test_quantized_layouts_are_the_bytes_checkpoints_store(model, precision, stored, source):
    spec = catalog.spec_for(model)
    assert M.weight_split(spec, BY_NAME[precision]).total == stored, source


def test_fp8_scales_are_never_below_either_layout():
    """RedHatAI/Meta-Llama-3.1-8B-Instruct-FP8-dynamic stores 9,083,953,152 bytes (a bf16 scale per output channel;
    headers): the estimate takes the larger of that and fine-grained 128 x 128 fp32 block scales, so it is at or a
    little above."""
    spec = catalog.spec_for("Llama-3.1-8B-Instruct")
    total = M.weight_split(spec, BY_NAME["fp8"]).total
    assert 9_083_953_152 <= total <= 9_083_953_152 * 1.0005
    # by hand: fp8 weights, then per matrix the larger scale layout (a bf16 scale per row, or fp32 per 128 x 128
    # block: ffn_down's 14,336 inputs make its blocks the larger), then embeddings, head and norms at 16 bits
    weights = 32 * (4096 * (4096 + 1024 + 1024) + 4096 * 4096 + 3 * 4096 * 14336)
    scales = 32 * (8192 + 2048 + 2048 + 8192 + 28672 + 28672 + 32 * 112 * 4)
    assert total == weights + scales + 2 * (2 * 128256 * 4096 + 65 * 4096)
