"""llama.cpp-family rules: the types a GGUF mix really gives tensors (llama.cpp's fallbacks), and Ollama's own
default context."""

from __future__ import annotations

import pytest

from advisor.models.resolve import resolve
from rules.plan import Request
from rules.workloads import decide
from tests.snapshots import gpu, machine


def test_k_quant_rows_their_block_does_not_divide_fall_back_as_llama_quantize_does() -> None:
    """SmolLM2-135M: hidden 576 is not a multiple of 256, so Q4_K_M's Q4_K tensors that read the hidden state are
    Q5_0 and its Q6_K ones Q8_0 (llama.cpp tensor_type_fallback); ffn_down reads 1,536 = 6 x 256 and keeps K-quants."""
    from rules.gguf_mix import MIXES, Columns, fitted, layer_types, outside_types
    from rules.memory import weight_split
    from rules.precisions import BY_NAME

    assert (fitted("Q4_K", 576), fitted("Q6_K", 576), fitted("Q4_K", 1536), fitted("Q2_K", 576)) == (
        "Q5_0", "Q8_0", "Q4_K", "Q4_0")
    assert fitted("Q4_K", 100) == "F16"  # not even a 32-block fits
    mix, cols = MIXES["Q4_K_M"], Columns(576, 576, 1536)
    first = layer_types(mix, 0, 30, 3, cols)  # layer 0 is in the first eighth: attn_v and ffn_down get more bits
    assert first == {"attn_q": "Q5_0", "attn_k": "Q5_0", "attn_v": "Q8_0", "attn_output": "Q5_0", "ffn_gate": "Q5_0",
                     "ffn_up": "Q5_0", "ffn_down": "Q6_K", "experts": "Q5_0"}
    assert layer_types(mix, 4, 30, 3, cols)["ffn_down"] == "Q4_K"  # (4 - 3) % 3 != 2: no more bits
    assert outside_types(mix, cols) == ("Q5_0", "Q8_0")
    # the whole file's tensor data by hand: 30 layers, tied embeddings stored once as the output (Q8_0)
    bits = {"Q5_0": 5.5, "Q8_0": 8.5, "Q6_K": 6.5625, "Q4_K": 4.5, "F32": 32}
    more = [i < 3 or i >= 27 or (i - 3) % 3 == 2 for i in range(30)]
    total = 49152 * 576 * bits["Q8_0"]
    for m in more:
        total += (576 * 576 * 2 + 576 * 192 + 2 * 576 * 1536) * bits["Q5_0"]
        total += 576 * 192 * (bits["Q8_0"] if m else bits["Q5_0"])
        total += 1536 * 576 * (bits["Q6_K"] if m else bits["Q4_K"])
        total += 2 * 576 * bits["F32"]
    total += 576 * bits["F32"]  # the final norm
    spec = resolve("SmolLM2-135M")
    assert abs(weight_split(spec, BY_NAME["Q4_K_M"]).total - total / 8) <= 576 * 4 + 8


@pytest.mark.parametrize(("gpu_gib", "expected"), [(23.99, 4096), (24.0, 32768), (47.9, 32768), (80.0, 131072)])
def test_ollama_plans_at_the_context_it_picks_itself_by_vram(gpu_gib: float, expected: int) -> None:
    """Ollama's default num_ctx by VRAM (docs/context-length.mdx): under 24 GiB 4k, 24-48 GiB 32k, from 48 GiB 256k,
    never past the model's trained 131,072 tokens; an explicit --context wins."""
    snap = machine([gpu(0, "NVIDIA H100 80GB HBM3", gpu_gib, "9.0")], ram_gib=256)
    spec = resolve("Llama-3.1-8B-Instruct")
    rec = decide(spec, snap, Request(engine="ollama", precision="Q4_K_M"))
    assert rec.plan is not None and rec.plan.context == expected and rec.request.context == expected
    assert any("picks a context of" in n for n in rec.plan.notes)
    asked = decide(spec, snap, Request(engine="ollama", precision="Q4_K_M", context=8192)).plan
    assert asked is not None and asked.context == 8192 and not any("picks a context" in n for n in asked.notes)
    other = decide(spec, snap, Request(engine="llama.cpp", precision="Q4_K_M")).plan
    assert other is not None and other.context == 8192


def test_the_settings_turn_on_the_flash_attention_the_plan_is_sized_for() -> None:
    from advisor import api

    for kv in ("auto", "q8_0"):
        cpp = api.recommend("llama3.1:8b", gpu="RTX 4090", engine="llama.cpp", precision="Q4_K_M", kv_dtype=kv)
        assert cpp.settings is not None and " -fa on" in cpp.settings["command"]
        assert ("-ctk q8_0" in cpp.settings["command"]) == (kv == "q8_0")
        oll = api.recommend("llama3.1:8b", gpu="RTX 4090", engine="ollama", precision="Q4_K_M", kv_dtype=kv)
        assert oll.settings is not None and oll.settings["env"]["OLLAMA_FLASH_ATTENTION"] == "1"


def test_quantized_kernels_scratch_follows_the_kernel_each_gpu_runs() -> None:
    """The kernel transformers runs for a quantized checkpoint, and so its scratch, depends on the GPU: GPTQ 4-bit
    runs Marlin or AutoGPTQ's exllama (temp_dq: the largest matrix in fp16) from compute capability 8.0, gptqmodel's
    ExllamaV2 below it (its fixed scratch adds out x 2048 x 8 x 4 bytes); GPTQ 8-bit dequantizes (AutoGPTQ's
    cuda_old, about three copies of the matrix) from 128 tokens, and Triton below 8.0 in every forward; AutoAWQ's GEMM
    dequantizes one matrix from 1,024 tokens."""
    from rules.engines import Target
    from rules.engines.transformers import quant_persistent, quant_transient
    from rules.precisions import BY_NAME

    spec = resolve("Qwen2.5-7B-Instruct")
    largest = 3584 * 18944 * 2  # gate_proj in fp16: hidden x MLP width x 2 bytes
    a100 = Target("NVIDIA A100 80GB", 80 * 2**30, (8, 0))
    t4 = Target("Tesla T4", 15 * 2**30, (7, 5))
    awq, gptq, gptq8 = BY_NAME["awq-int4"], BY_NAME["gptq-int4"], BY_NAME["gptq-int8"]
    assert quant_transient(spec, awq, 1023, a100) == 0 and quant_transient(spec, awq, 1024, a100) == largest
    assert quant_persistent(spec, gptq, a100) == largest
    assert quant_persistent(spec, gptq, t4) == largest + 18944 * 2048 * 8 * 4 + 256  # 1.30 GiB on a T4
    assert quant_persistent(spec, gptq, None) == quant_persistent(spec, gptq, t4)  # a GPU not described: the costlier
    assert quant_transient(spec, gptq8, 127, a100) == 0 and quant_transient(spec, gptq8, 128, a100) == 3 * largest
    assert quant_transient(spec, gptq8, 1, t4) == largest
    assert quant_persistent(spec, BY_NAME["bf16"], t4) == quant_transient(spec, BY_NAME["bf16"], 8192, t4) == 0
    # in a plan: the same GPTQ-Int4 model needs the ExllamaV2 scratch more on a T4-class GPU than on an A100-class one
    on_t4 = decide(spec, machine([gpu(0, "Tesla T4", 14.58, "7.5")]),
                   Request(engine="transformers", precision="gptq-int4", context=512)).plan
    on_a10 = decide(spec, machine([gpu(0, "NVIDIA A10", 22.49, "8.6")]),
                    Request(engine="transformers", precision="gptq-int4", context=512)).plan
    assert on_t4 is not None and on_a10 is not None
    assert on_t4.memory.activations_bytes - on_a10.memory.activations_bytes == 18944 * 2048 * 8 * 4 + 256
