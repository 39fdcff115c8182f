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


def test_a_layer_split_sizes_each_gpu_by_its_own_phases() -> None:
    """transformers with device_map over three GPUs, a 2,048-token prompt and a 32,768-token context: every GPU runs
    the prefill of its layers at the whole prompt (the same working memory on each), and holds its layers' share of
    the KV cache: per layer and token, K and V of 8 heads x 128 x 2 bytes (Qwen2.5-72B's config)."""
    from rules.engines.transformers import transformers_activations
    from rules.precisions import BY_NAME

    spec = resolve("Qwen2.5-72B-Instruct")
    three = machine([gpu(i, "NVIDIA A100-SXM4-80GB", 79.25, "8.0") for i in range(3)], ram_gib=512)
    plan = decide(spec, three, Request(engine="transformers", precision="bf16", context=32768, prompt=2048,
                                       placement="layer-split")).plan
    assert plan is not None and plan.placement == "layer-split" and len(plan.per_device) == 3
    counts = [int(n) for n in plan.notes[0].split(": ")[1].split(", ")]
    working = transformers_activations(spec, 2048, 1, 2, BY_NAME["bf16"], Target("A100", 80 * GIB, (8, 0)))
    per_layer_token = 2 * 8 * 128 * 2
    for use, n in zip(plan.per_device, counts, strict=True):
        m = use.memory
        assert m.prefill_bytes == m.weights_bytes + n * 2048 * per_layer_token + working + m.runtime_bytes
        assert m.kv_cache_bytes == n * 32768 * per_layer_token
        assert m.total_bytes == max(m.prefill_bytes, m.decode_bytes or 0)


def test_eager_only_models_hold_their_attention_scores() -> None:
    """Gemma 2 runs eager attention in transformers (modeling_gemma2.py: `_supports_sdpa = False  # sdpa does not
    support softcapping`): the scores of a layer, heads x prompt x prompt, in bf16 with their fp32 softmax beside them
    (6 bytes each), with q and the repeated K/V, outgrow the MLP's peak at 8,192 tokens. The same shapes under SDPA
    keep only the MLP's (3F + 4H) per token."""
    spec = resolve("gemma-2-9b-it")
    heads, hd, h, f = 16, 256, 3584, 14336  # gemma-2-9b's config
    assert (spec.heads, spec.head_dim, spec.hidden_size, spec.intermediate_size) == (heads, hd, h, f)
    a100 = machine([gpu(0, "NVIDIA A100-SXM4-80GB", 79.25, "8.0")])
    sdpa_twin = spec.model_copy(update={"model_type": "gemma3_text", "name": "sdpa twin"})
    request = Request(engine="transformers", precision="bf16", context=8192)
    eager = decide(spec, a100, request).plan
    sdpa = decide(sdpa_twin, a100, request).plan
    assert eager is not None and sdpa is not None
    p = 8192
    scores = heads * p * p * (2 + 4) + p * (3 * heads * hd + 4 * h) * 2
    assert eager.memory.activations_bytes - sdpa.memory.activations_bytes == scores - p * (3 * f + 4 * h) * 2
    # 24 GB is no longer enough for it all on the GPU at 8k: the scores alone are 6 GiB
    rtx = decide(spec, machine([gpu(0, "NVIDIA GeForce RTX 4090", 23.99, "8.9")]),
                 Request(engine="transformers", precision="bf16", context=8192, allow_cpu=False)).plan
    assert rtx is None or rtx.placement != "single-gpu"


def test_transformers_runs_fine_grained_fp8_where_its_kernel_does() -> None:
    """transformers' fine-grained FP8 (an fp8 weight and an fp32 scale per 128 x 128 block; its quantizer needs
    compute capability >= 8.9): a Qwen3-8B-FP8 checkpoint gets a transformers plan on an RTX 4090 (8.9), and on an
    A100 (8.0) the reason it does not, first."""
    ok = api.recommend("Qwen3-8B-FP8", gpu="RTX 4090", engine="transformers")
    assert ok.plan is not None and (ok.plan.precision, ok.plan.engine) == ("fp8", "transformers")
    assert ok.settings is not None and "FineGrainedFP8Config" not in ok.settings["python"]  # stored in fp8 already
    fresh = api.recommend("Qwen3-8B", gpu="RTX 4090", engine="transformers", precision="fp8")
    assert fresh.settings is not None and "quantization_config=FineGrainedFP8Config()" in fresh.settings["python"]
    old = api.recommend("Qwen3-8B-FP8", gpu="A100", engine="transformers")
    assert old.plan is None and "compute capability 8.9" in old.rejected[0].reason


def test_cpu_transformers_settings_offer_the_mmap_threshold_and_its_steady_peak() -> None:
    """With MALLOC_MMAP_THRESHOLD_=65536 glibc mmaps every block of 64 KiB or more and unmaps it when freed, so the
    heap keeps no holes: the settings carry it, and say the single peak it gives beside the verdict's worst (which
    stays the plan's figure, since the settings may not be used)."""
    from rules.engines.transformers import TRANSFORMERS_CPU_ACT_BASE, TRANSFORMERS_CPU_PROCESS
    from tests.snapshots import NO_GPU

    res = api.recommend("SmolLM2-135M-Instruct", snapshot=NO_GPU, engine="transformers", precision="fp32",
                        context=8192)
    plan = res.plan
    assert plan is not None and plan.placement == "cpu" and res.settings is not None
    assert res.settings["env"].get("MALLOC_MMAP_THRESHOLD_") == "65536"
    m = plan.memory
    # the live memory by hand: SmolLM2-135M's MLP is 1,536 wide; three fp32 intermediates at 8,192 tokens
    live = TRANSFORMERS_CPU_PROCESS + TRANSFORMERS_CPU_ACT_BASE + 3 * 8192 * 1536 * 4
    steady = m.weights_bytes + m.kv_cache_bytes + -(-live * 105 // 100)
    assert f"peaks at about {steady / GIB:.2f} GiB every time" in res.settings["note"]
    assert f"instead of up to {m.total_bytes / GIB:.2f} GiB" in res.settings["note"]
    assert steady < (m.typical_total_bytes or 0) < m.total_bytes


def test_the_mmap_threshold_peak_covers_every_measured_run() -> None:
    """benchmarks/data/cpu-malloc.json: the same rows in fresh processes under glibc settings. Under
    MALLOC_MMAP_THRESHOLD_=65536 the steady peak advisor offers is never below a run's peak, and at most 10 % above."""
    import json
    from pathlib import Path

    from rules import memory as M
    from rules.engines.transformers import cpu_peak_mmapped
    from rules.precisions import BY_NAME

    doc = json.loads((Path(__file__).parents[1] / "benchmarks" / "data" / "cpu-malloc.json").read_text())
    rows = [r for r in doc["rows"] if r["setting"] == "mmap-threshold-64k"]
    assert len(rows) >= 3
    for r in rows:
        spec = resolve(r["model"])
        elem = 4 if r["dtype"] == "float32" else 2
        weights = M.weight_split(spec, BY_NAME["fp32" if elem == 4 else "bf16"]).total
        kv = M.kv_cache_bytes(spec, engine("transformers"), r["prompt_tokens"] + 4, r["batch"], elem)
        steady = cpu_peak_mmapped(spec, r["prompt_tokens"], r["batch"], elem, weights, kv)
        peaks = r["peak_rss_generate_runs_bytes"]
        assert max(peaks) <= steady <= 1.10 * max(peaks), (r["model"], r["prompt_tokens"], steady, peaks)


def test_transformers_loads_an_mxfp4_checkpoint_dequantized_and_says_so() -> None:
    """transformers' Mxfp4 quantizer dequantizes gpt-oss to bf16 as it loads unless triton >= 3.4 and `kernels` are
    installed (quantizer_mxfp4.py, validate_environment): asked for transformers, the plan holds bf16 weights (two
    bytes per parameter) and the settings say why; with the engine left to advisor, no engine is planned that way."""
    spec = resolve("gpt-oss-20b")
    hf = api.recommend("gpt-oss-20b", gpu="H100", engine="transformers", context=4096)
    assert hf.plan is not None and (hf.plan.precision, hf.plan.engine) == ("bf16", "transformers")
    assert hf.plan.memory.weights_bytes == 2 * spec.params_total
    assert hf.settings is not None and "dequantizes this MXFP4 checkpoint to bf16" in (hf.settings["note"] or "")
    assert "MXFP4" in hf.plan.quality and "dequantized" in hf.plan.quality  # the checkpoint's quality, not bf16's
    auto = api.recommend("gpt-oss-20b", gpu="H100", context=4096)
    assert auto.plan is not None and auto.plan.precision != "bf16"
    assert all(p.precision != "bf16" for p in auto.alternatives)


def test_fp8_on_transformers_holds_a_tied_head_apart() -> None:
    """Qwen's FP8 checkpoints of tied models sit above their FP8 weights by up to one 16-bit copy of the embedding at
    every prompt length (tests/data/measured-qwen3-lowerbound.json): a transformers FP8 plan of a tied model holds
    it (Qwen3-0.6B: 151,936 x 1,024 x 2 bytes), an untied one does not, and vLLM's FP8 plan is unchanged."""
    from rules import memory as M
    from rules.precisions import BY_NAME

    h20 = machine([gpu(0, "NVIDIA H20", 95.0, "9.0")])
    tied = resolve("Qwen3-0.6B")
    assert tied.tied_embeddings
    fp8 = M.weight_split(tied, BY_NAME["fp8"]).total
    hf = decide(tied, h20, Request(engine="transformers", precision="fp8", context=4096)).plan
    vllm = decide(tied, h20, Request(engine="vllm", precision="fp8", context=4096)).plan
    assert hf is not None and vllm is not None
    assert hf.memory.weights_bytes == fp8 + 151936 * 1024 * 2
    assert vllm.memory.weights_bytes == fp8
    untied = resolve("Qwen3-8B")
    plan = decide(untied, h20, Request(engine="transformers", precision="fp8", context=4096)).plan
    assert plan is not None and plan.memory.weights_bytes == M.weight_split(untied, BY_NAME["fp8"]).total
