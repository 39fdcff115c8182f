"""Each engine's working memory from its own code: vLLM's batch defaults and captured CUDA graphs by GPU, llama.cpp's
compute buffer with and without flash attention. Expected figures are worked by hand from the engines' sources and
from published logs, never from advisor's output."""

from __future__ import annotations

from advisor import api
from advisor.models.resolve import resolve
from rules.engines import Target
from rules.engines import get as engine
from rules.plan import Request
from rules.workloads import decide
from tests.snapshots import gpu, machine

MIB = 2**20
GIB = 2**30


def test_vllm_captures_graphs_for_the_sizes_its_default_list_holds() -> None:
    """vllm/config/vllm.py _set_cudagraph_sizes: 1, 2, 4, every 8 below 256, every 16 up to min(2 x max_num_seqs, 512,
    max_num_batched_tokens); FULL_AND_PIECEWISE captures the sizes up to max_num_seqs a second time."""
    from rules.engines.vllm import GRAPH_EACH, GRAPH_POOL, capture_sizes, cuda_graph_bytes

    sizes = capture_sizes(256, 8192)
    assert sizes[:5] == [1, 2, 4, 8, 16] and sizes[-2:] == [496, 512]
    assert len(sizes) == 3 + 31 + 17  # 51, as vLLM logs "PIECEWISE=51 (largest=512)"
    assert sum(1 for n in sizes if n <= 256) == 35  # "FULL=35 (largest=256)"
    assert capture_sizes(8, 2048) == [1, 2, 4, 8, 16]
    assert cuda_graph_bytes(None, 8, 2048) == GRAPH_POOL + GRAPH_EACH * (5 + 4)
    moe = resolve("Qwen3-30B-A3B")
    assert cuda_graph_bytes(moe, 8, 2048) == 2 * cuda_graph_bytes(None, 8, 2048)


def test_vllm_batch_defaults_follow_the_gpu() -> None:
    """EngineArgs.get_batch_defaults (vllm serve): a GPU of 70 GiB or more whose name has no "a100" gets 8192 batched
    tokens and 1024 sequences; any other 2048 and 256. The profiled batch and the sampler follow."""
    vllm = engine("vllm")
    h100 = Target("NVIDIA H100 80GB HBM3", 80 * GIB, (9, 0))
    a100 = Target("NVIDIA A100-SXM4-80GB", 80 * GIB, (8, 0))
    rtx = Target("NVIDIA GeForce RTX 4090", 24 * GIB, (8, 9))
    assert vllm.batch_defaults(h100) == (8192, 1024)  # type: ignore[attr-defined]
    assert vllm.batch_defaults(a100) == vllm.batch_defaults(rtx) == (2048, 256)  # type: ignore[attr-defined]
    assert vllm.batch_defaults(None) == (8192, 1024)  # type: ignore[attr-defined]  # unknown GPU: the larger
    spec = resolve("Llama-3.1-8B-Instruct")
    from rules.precisions import BY_NAME

    bf16 = BY_NAME["bf16"]
    f, h, v = 14336, 4096, 128256
    per_token = (4 * f + h) * 2
    # the profile run takes the whole batched-token budget whatever the context, and samples every sequence
    assert vllm.activations(spec, bf16, 1024, 1, 1, False, h100) == 8192 * per_token + 2 * 1024 * v * 4
    assert vllm.activations(spec, bf16, 1024, 1, 1, False, rtx) == 2048 * per_token + 2 * 256 * v * 4
    # --max-num-seqs is the plan's batch when the settings set it
    assert vllm.activations(spec, bf16, 1024, 8, 1, False, rtx) == 2048 * per_token + 2 * 8 * v * 4


def test_vllm_plan_on_an_h100_holds_the_larger_defaults_and_says_them_in_its_reservation() -> None:
    spec = resolve("Llama-3.1-8B-Instruct")
    big = decide(spec, machine([gpu(0, "NVIDIA H100 80GB HBM3", 79.6, "9.0")]),
                 Request(engine="vllm", precision="bf16", context=8192)).plan
    small = decide(spec, machine([gpu(0, "NVIDIA A100-SXM4-80GB", 79.6, "8.0")]),
                   Request(engine="vllm", precision="bf16", context=8192)).plan
    assert big is not None and small is not None
    f, h, v = 14336, 4096, 128256
    # the H100 profiles 6144 more tokens and samples 768 more sequences than the A100 (same memory, other defaults)
    assert big.memory.activations_bytes - small.memory.activations_bytes == (6144 * (4 * f + h) * 2
                                                                             + 2 * 768 * v * 4)
    # 51 + 51 graphs against 51 + 35
    assert big.memory.runtime_bytes - small.memory.runtime_bytes == 16 * 8 * MIB


def test_llama_cpp_without_flash_attention_materialises_the_scores_as_a_published_log_shows() -> None:
    """fedora-copr/logdetective#106, flash_attn = 0, n_ubatch 512, a 32-head 4096-wide model (Mistral-7B's shapes):
    CUDA0 compute buffer size = 164.00 MiB at n_ctx 2048 and 2144.00 MiB at 32768. The scores are an f32 KQ of
    n_kv x ub x heads beside the f32 mask: 4 x 512 x (n_kv x 33 + 4 x 4096)."""
    from rules.engines.llamacpp import compute_buffer

    spec = resolve("Mistral-7B-Instruct-v0.3")
    assert (spec.heads, spec.hidden_size) == (32, 4096)
    for n_ctx, published in ((2048, 164.00), (32768, 2144.00)):
        assert compute_buffer(spec, n_ctx, on_cpu=True, flash=False) / MIB == published
    # with flash attention the buffer no longer grows with context x heads: the logits lead, the mask grows slowly
    on = compute_buffer(spec, 32768, on_cpu=True, flash=True)
    assert on == 512 * (4 * 32768 + 4 * (3 * 4096 + 14336)) + 6 * 32768 * 512 < 300 * MIB


def test_llama_cpp_turns_flash_attention_off_where_the_gpu_kernels_lack_the_head_size() -> None:
    spec = resolve("Qwen2.5-7B-Instruct").model_copy(update={"head_dim": 160, "name": "odd-heads"})
    rtx = machine([gpu(0, "NVIDIA GeForce RTX 4090", 23.99, "8.9")])
    res = decide(spec, rtx, Request(engine="llama.cpp", precision="Q4_K_M", context=32768))
    assert res.plan is not None
    from rules.engines.llamacpp import compute_buffer

    n_kv, heads = 32768, spec.heads or 0
    assert res.plan.memory.activations_bytes == compute_buffer(spec, 32768, False, False)
    assert compute_buffer(spec, 32768, False, False) - 256 * MIB == 4 * 512 * (n_kv * (heads + 1) + 4 * 3584)
    # a quantized V cache needs flash attention: refused, with the reason
    q8 = decide(spec, rtx, Request(engine="llama.cpp", precision="Q4_K_M", context=32768, kv_dtype="q8_0"))
    assert q8.plan is None
    assert any("needs flash attention" in r.reason and "head size 160" in r.reason for r in q8.rejected)


def test_settings_say_flash_attention_as_the_plan_was_sized() -> None:
    on = api.recommend("Qwen2.5-7B-Instruct", gpu="RTX 4090", engine="llama.cpp", precision="Q4_K_M")
    assert on.settings is not None and "-fa on" in on.settings["command"]
    gemma = api.recommend("gemma-2-9b-it", gpu="RTX 4090", engine="ollama", precision="Q4_K_M")
    assert gemma.settings is not None
    assert "OLLAMA_FLASH_ATTENTION" not in gemma.settings["env"]  # Ollama runs Gemma 2 without it, whatever it is told
    assert "without flash attention" in (gemma.settings["note"] or "")
