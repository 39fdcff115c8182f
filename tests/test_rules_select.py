"""Selection: gates with their reasons, per-device fits (never pooled), ranking, advice, laws."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.models import catalog
from rules.joint import place_models
from rules.plan import Request
from rules.select import recommend
from tests.snapshots import GIB, NO_GPU, gpu, machine, rtx4090


def spec(name: str):
    return catalog.spec_for(name)


def reasons(rec, precision=None, engine=None):
    return [r.reason for r in rec.rejected if (precision is None or r.precision == precision)
            and (engine is None or r.engine == engine)]


# --- one test per rejection reason --------------------------------------------------------------------------

def test_fp8_needs_ada_or_hopper():
    snap = machine([gpu(0, "NVIDIA GeForce RTX 3090", 24, "8.6")])
    rec = recommend(spec("Llama-3.1-8B-Instruct"), snap, Request(precision="fp8"))
    assert "fp8 needs compute capability 8.9 or ≥ 9.0; GPU 0 (NVIDIA GeForce RTX 3090) is 8.6" in reasons(rec, "fp8")
    assert not rec.fits


def test_bf16_needs_ampere_so_t4_gets_fp16():
    snap = machine([gpu(0, "Tesla T4", 15, "7.5")])
    rec = recommend(spec("Qwen2.5-3B-Instruct"), snap, Request(engine="transformers"))
    assert "bf16 needs compute capability ≥ 8.0; GPU 0 (Tesla T4) is 7.5" in reasons(rec, "bf16", "transformers")
    assert rec.plan is not None and (rec.plan.precision, rec.plan.placement) == ("fp16", "single-gpu")


def test_int8_needs_turing():
    snap = machine([gpu(0, "Tesla V100-SXM2-16GB", 16, "7.0")])
    rec = recommend(spec("Qwen2.5-3B-Instruct"), snap, Request(precision="int8", engine="transformers"))
    assert "int8 needs compute capability ≥ 7.5; GPU 0 (Tesla V100-SXM2-16GB) is 7.0" in reasons(rec, "int8")


def test_fp4_needs_blackwell():
    snap = machine([gpu(0, "NVIDIA H100 80GB HBM3", 79.6, "9.0")])
    rec = recommend(spec("Llama-3.1-8B-Instruct"), snap, Request(precision="nvfp4"))
    assert "nvfp4 needs compute capability 10.x or 12.x; GPU 0 (NVIDIA H100 80GB HBM3) is 9.0" in reasons(rec, "nvfp4")
    blackwell = machine([gpu(0, "NVIDIA GeForce RTX 5090", 31.4, "12.0")])
    rec = recommend(spec("Llama-3.1-8B-Instruct"), blackwell, Request(precision="nvfp4"))
    assert rec.fits and rec.plan is not None and rec.plan.precision == "nvfp4"


def test_awq_needs_turing_on_pascal():
    snap = machine([gpu(0, "Tesla P100", 16, "6.0")])
    rec = recommend(spec("Qwen2.5-3B-Instruct"), snap, Request(precision="awq", engine="transformers"))
    assert "awq-int4 needs compute capability ≥ 7.5; GPU 0 (Tesla P100) is 6.0" in reasons(rec, "awq-int4")


def test_vllm_needs_a_gpu():
    rec = recommend(spec("SmolLM2-135M-Instruct"), NO_GPU, Request(engine="vllm"))
    assert not rec.fits and rec.plan is None
    assert "vllm needs a GPU" in reasons(rec, engine="vllm")


def test_gpu_only_precision_on_cpu():
    rec = recommend(spec("SmolLM2-135M-Instruct"), NO_GPU, Request(precision="gptq", engine="transformers"))
    assert "gptq-int4 needs GPU kernels; it does not run on the CPU" in reasons(rec, "gptq-int4")


def test_apple_gpu_gates():
    snap = machine([gpu(0, "Apple M2 Max 96GB", 72, None)])
    rec = recommend(spec("Llama-3.1-8B-Instruct"), snap, Request())
    assert "vllm does not run on Apple GPUs" in reasons(rec, engine="vllm")
    assert rec.plan is not None and rec.plan.placement == "unified" and rec.plan.engine in ("llama.cpp", "transformers")


def test_unknown_capability():
    snap = machine([gpu(0, "Mystery GPU", 24, None)])
    rec = recommend(spec("Qwen2.5-0.5B-Instruct"), snap, Request(engine="vllm"))
    assert any("compute capability of GPU 0 (Mystery GPU) is unknown" in r for r in reasons(rec))


def test_torch_without_kernels_for_the_gpu():
    from probes.schema import TorchDevice, TorchSection

    snap = machine([gpu(0, "NVIDIA GeForce RTX 5090", 31.4, "12.0")])
    snap = snap.model_copy(update={"torch": TorchSection(status="ok", installed=True, version="2.4.0+cu121", backends=["cpu", "cuda"],
                                                         devices=[TorchDevice(index=0, backend="cuda", compute_capability="12.0",
                                                                              kernels="missing")])})
    rec = recommend(spec("Qwen2.5-0.5B-Instruct"), snap, Request(engine="transformers", precision="bf16"))
    assert "the installed torch 2.4.0+cu121 has no kernels for compute capability 12.0 (GPU 0 (NVIDIA GeForce RTX 5090))" in reasons(rec)


def test_not_enough_memory_names_the_numbers():
    snap = rtx4090()
    rec = recommend(spec("Llama-3.1-70B-Instruct"), snap, Request(precision="bf16", engine="transformers", context=4096))
    single = [r for r in rec.rejected if r.placement == "single-gpu"]
    assert single and "needs" in single[0].reason and "GiB on GPU 0 (NVIDIA GeForce RTX 4090)" in single[0].reason
    assert "usable (23.5 GiB free minus headroom)" in single[0].reason


def test_already_quantized_checkpoint():
    from advisor.models.spec import Quantization

    gptq = spec("Qwen2.5-7B-Instruct").model_copy(update={"source": "directory",
                                                           "quantization": Quantization(method="gptq", bits=4, group_size=128)})
    rec = recommend(gptq, rtx4090(), Request())
    assert rec.plan is not None and rec.plan.precision == "gptq-int4"
    assert "this checkpoint is already gptq 4-bit; bf16 needs another checkpoint" in reasons(rec, "bf16")


def test_kv_dtype_engine_mismatch():
    # asked of one engine: the request itself is invalid, naming the engines that take it
    with pytest.raises(ValueError, match=r"--kv-dtype q8_0 is not a KV cache type of vLLM \(it is one of llama.cpp"):
        recommend(spec("Qwen2.5-0.5B-Instruct"), rtx4090(), Request(kv_dtype="q8_0", engine="vllm"))
    with pytest.raises(ValueError, match=r"fp8 is not a KV cache type of HF transformers \(it is one of vllm, sglang"):
        recommend(spec("Qwen2.5-0.5B-Instruct"), rtx4090(), Request(kv_dtype="fp8", engine="transformers"))
    # with the engine left open, the engines that cannot take it are rejected with that reason
    rec = recommend(spec("Qwen2.5-0.5B-Instruct"), rtx4090(), Request(kv_dtype="q8_0"))
    assert any("a q8_0 KV cache is not vLLM's" in r for r in reasons(rec))
    assert rec.plan is not None and rec.plan.engine == "llama.cpp" and rec.plan.kv_dtype == "q8_0"


@pytest.mark.parametrize(
    ("request_kw", "message"),
    [
        ({"context": 0}, "--context must be between 1"),
        ({"context": -5}, "--context must be between 1"),
        ({"context": 10**9}, "--context must be between 1"),
        ({"batch": 0}, "--batch must be between 1"),
        ({"engine": "magic"}, "unknown engine 'magic'"),
        ({"precision": "int3"}, "unknown precision 'int3'"),
        ({"kv_dtype": "int2"}, "unknown KV cache dtype 'int2'"),
        ({"mode": "lora", "engine": "vllm"}, "--mode lora runs with transformers, not vllm"),
    ],
)
def test_invalid_requests(request_kw, message):
    with pytest.raises(ValueError, match=message):
        recommend(spec("Qwen2.5-0.5B-Instruct"), rtx4090(), Request(**request_kw))


# --- placements and ranking ---------------------------------------------------------------------------------

def test_8b_on_a_4090_is_bf16_on_gpu():
    rec = recommend(spec("Llama-3.1-8B-Instruct"), rtx4090(), Request(context=8192))
    assert rec.fits and rec.plan is not None
    p = rec.plan
    assert (p.precision, p.placement) == ("bf16", "single-gpu") and p.engine in ("vllm", "tensorrt-llm", "transformers")
    assert p.memory.weights_bytes == 8_030_261_248 * 2
    assert p.max_context is not None and p.max_context >= 8192
    assert p.cuda_visible_devices == "0"


def test_never_pooled_across_gpus():
    # ~85 GiB of bf16 weights: no single 80 GB GPU holds it; the two may only share it by splitting layers.
    snap = machine([gpu(0, "NVIDIA H100 80GB HBM3", 79.6, "9.0"), gpu(1, "NVIDIA H100 80GB HBM3", 79.6, "9.0")])
    big = spec("Qwen2.5-72B-Instruct")
    rec = recommend(big, snap, Request(precision="bf16", context=4096))
    for plan in [rec.plan, *rec.alternatives]:
        if plan is not None:
            assert plan.placement != "single-gpu"
            assert all(u.memory.total_bytes <= (u.budget_bytes or 0) for u in plan.per_device)
    one = machine([gpu(0, "NVIDIA H100 80GB HBM3", 79.6, "9.0")], ram_gib=16)
    rec_one = recommend(big, one, Request(precision="bf16", context=4096))
    assert not rec_one.fits


def test_two_h100_busy_chooses_tensor_parallel_or_split():
    snap = machine([gpu(0, "NVIDIA H100 80GB HBM3", 79.6, "9.0", 79.1), gpu(1, "NVIDIA H100 80GB HBM3", 79.6, "9.0", 49.1)])
    rec = recommend(spec("Llama-3.3-70B-Instruct"), snap, Request(context=8192))
    assert rec.fits and rec.plan is not None
    assert rec.plan.placement in ("tensor-parallel", "layer-split")
    assert rec.plan.precision in ("fp8", "bf16")
    assert len(rec.plan.gpu_indices) == 2


def test_vllm_utilization_respects_other_processes():
    snap = machine([gpu(0, "NVIDIA H100 80GB HBM3", 79.6, "9.0", 49.1)])
    rec = recommend(spec("Qwen2.5-7B-Instruct"), snap, Request(engine="vllm"))
    p = rec.plan
    assert p is not None and p.gpu_memory_utilization is not None
    # 49.1 GiB free minus 7.96 GiB headroom = 41.1 GiB usable of 79.6: at most 0.51
    assert p.gpu_memory_utilization <= 0.52
    assert any("--gpu-memory-utilization" in n for n in p.notes)


def test_cpu_only_machine_gets_a_cpu_plan():
    rec = recommend(spec("Qwen2.5-7B-Instruct"), NO_GPU, Request())
    assert rec.fits and rec.plan is not None and rec.plan.placement == "cpu"
    assert rec.plan.engine in ("llama.cpp", "transformers")


def test_cpu_transformers_plans_say_how_much_the_peak_moves():
    from rules.engines import transformers as M

    hf = recommend(spec("Qwen2.5-0.5B-Instruct"), NO_GPU, Request(engine="transformers"))
    assert hf.plan is not None and hf.plan.placement == "cpu"
    assert f"up to {M.TRANSFORMERS_CPU_RUN_SPREAD:.0%} between processes" in " ".join(hf.plan.notes)
    gguf = recommend(spec("Qwen2.5-0.5B-Instruct"), NO_GPU, Request(engine="llama.cpp"))
    assert gguf.plan is not None and not any("between processes" in n for n in gguf.plan.notes)


def test_offload_when_the_gpu_is_too_small():
    rec = recommend(spec("Qwen2.5-32B-Instruct"), rtx4090(), Request(precision="Q8_0"))
    assert rec.plan is not None and rec.plan.placement == "offload" and rec.plan.speed_class == "offload"
    assert rec.plan.gpu_layers is not None and 0 < rec.plan.gpu_layers < 64


def test_all_gpu_at_4_bit_beats_offload_at_higher_quality():
    # Qwen2.5-32B on a 24 GiB card: Q8_0 needs ~33 GiB (offload), a 4-bit GGUF (~17-19 GiB) fits on the GPU alone
    rec = recommend(spec("Qwen2.5-32B-Instruct"), rtx4090(), Request())
    assert rec.plan is not None and rec.plan.speed_class == "all-gpu" and rec.plan.placement == "single-gpu"
    assert rec.plan.quality_rank <= 5  # 4-bit or better
    assert all(a.speed_class == "all-gpu" for a in rec.alternatives[:2])


def test_offload_first_when_only_below_4_bit_fits_on_the_gpu():
    # Qwen2.5-32B on a 16 GiB card: nothing at 4 bits fits alone (IQ4_XS ~17 GiB); quality decides, and the best
    # all-GPU plan (3-bit or lower) is listed right after, so the trade is visible
    snap = machine([gpu(0, "NVIDIA GeForce RTX 4080", 15.99, "8.9")], ram_gib=128)
    rec = recommend(spec("Qwen2.5-32B-Instruct"), snap, Request())
    assert rec.plan is not None and rec.plan.speed_class == "offload"
    first = rec.alternatives[0]
    assert first.speed_class == "all-gpu" and first.fits and first.quality_rank > 5
    assert "the fastest plan that fits: all on GPU" in first.notes


def test_gguf_file_runs_as_is():
    lite = spec("Llama-3.2-1B-Instruct").model_copy(update={"source": "gguf", "weight_bytes": 800_000_000})
    rec = recommend(lite, rtx4090(), Request())
    assert rec.plan is not None and rec.plan.precision == "gguf-file" and rec.plan.engine == "llama.cpp"
    assert rec.plan.memory.weights_bytes == 800_000_000


def test_training_modes():
    snap = machine([gpu(0, "NVIDIA A100-SXM4-80GB", 79.2, "8.0")])
    s = spec("Llama-3.1-8B-Instruct")
    full = recommend(s, snap, Request(mode="finetune", context=2048))
    lora = recommend(s, snap, Request(mode="lora", context=2048))
    qlora = recommend(s, snap, Request(mode="qlora", context=2048))
    assert not full.fits  # 8.03 B x 16 bytes = 120 GiB of weights, gradients and AdamW states
    assert lora.fits and qlora.fits and lora.plan and qlora.plan
    assert qlora.plan.precision == "nf4" and qlora.plan.memory.total_bytes < lora.plan.memory.total_bytes
    eight = machine([gpu(i, "NVIDIA A100-SXM4-80GB", 79.2, "8.0") for i in range(8)])
    fsdp = recommend(s, eight, Request(mode="finetune", context=2048))
    assert fsdp.fits and fsdp.plan is not None and fsdp.plan.placement == "fsdp"


# --- nothing fits --------------------------------------------------------------------------------------------

def test_nothing_fits_says_what_is_missing_and_what_would_help():
    snap = rtx4090(ram_gib=8, ram_free_gib=6)
    rec = recommend(spec("Llama-3.1-70B-Instruct"), snap, Request(precision="bf16", context=8192),
                    siblings=catalog.family_of)
    assert not rec.fits and rec.plan is None
    assert rec.missing_bytes is not None and rec.missing_bytes > 100 * GIB
    kinds = {c.kind for c in rec.changes}
    assert "precision" in kinds or "smaller-model" in kinds
    assert rec.smaller_models and rec.smaller_models[0].startswith("Llama-3.1-8B-Instruct")
    assert rec.bigger_gpus and "B200" in rec.bigger_gpus[0]


def test_distilled_sibling_is_offered():
    rec = recommend(spec("DeepSeek-R1-Distill-Qwen-32B"), rtx4090(ram_gib=8, ram_free_gib=6), Request(precision="bf16"),
                    siblings=catalog.family_of)
    assert not rec.fits
    # at the requested bf16 the 14B distill (29.5 GiB) does not fit a 24 GiB card; the 8B ones do
    assert rec.smaller_models and rec.smaller_models[0].startswith("DeepSeek-R1-Distill-Llama-8B")


def test_cannot_tell_when_nvml_failed_and_a_gpu_engine_was_asked():
    snap = machine([], nvml_status="unavailable", nvml_error="NVML did not answer within 10 s (hung driver call?)")
    rec = recommend(spec("Qwen2.5-7B-Instruct"), snap, Request(engine="vllm"))
    assert rec.cannot_tell and "hung driver" in rec.cannot_tell
    rec = recommend(spec("Qwen2.5-0.5B-Instruct"), snap, Request())
    assert rec.fits and rec.cannot_tell is None  # a CPU plan still answers; the gap is noted
    assert any("GPU plans were not considered" in n for n in rec.notes)


# --- several models --------------------------------------------------------------------------------------------

def test_joint_placement_adds_up():
    snap = rtx4090(free_gib=23.5)
    joint = place_models([spec("Qwen2.5-7B-Instruct"), spec("Qwen2.5-7B-Instruct")], snap, Request(context=4096))
    assert len(joint.placed) == 2
    gpu_use = sum(u.memory.total_bytes for r in joint.placed if r.plan for u in r.plan.per_device if u.kind == "gpu")
    assert gpu_use <= 23.5 * GIB
    tight = place_models([spec("Qwen2.5-14B-Instruct")] * 3, rtx4090(ram_gib=16, ram_free_gib=12), Request(precision="bf16"))
    assert tight.unplaced and "does not fit" in tight.unplaced[0][1]


# --- laws ------------------------------------------------------------------------------------------------------

MODELS = ["Qwen2.5-0.5B-Instruct", "Llama-3.1-8B-Instruct", "Qwen2.5-14B-Instruct", "Mixtral-8x7B-Instruct-v0.1",
          "gemma-2-9b-it", "DeepSeek-V2-Lite"]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(MODELS), st.floats(4, 60), st.floats(1.0, 3.0), st.floats(2, 64), st.sampled_from([1024, 4096, 16384]))
def test_more_free_memory_never_turns_a_fit_into_a_no_fit(name, free, factor, ram, ctx):
    s = spec(name)
    small = machine([gpu(0, "NVIDIA L40S", 80, "8.9", free)], ram_gib=128, ram_free_gib=ram)
    large = machine([gpu(0, "NVIDIA L40S", 80, "8.9", min(80, free * factor))], ram_gib=128, ram_free_gib=ram * factor)
    req = Request(context=ctx)
    if recommend(s, small, req, advise=False).fits:
        assert recommend(s, large, req, advise=False).fits


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(MODELS), st.integers(1, 60000), st.integers(1, 60000))
def test_longer_context_never_needs_less(name, a, b):
    s = spec(name)
    short, long_ = sorted((a, b))
    snap = machine([gpu(0, "NVIDIA H200", 140, "9.0")], ram_gib=512)
    for engine in ("vllm", "transformers", "llama.cpp"):
        r1 = recommend(s, snap, Request(context=short, engine=engine, precision="Q4_K_M" if engine == "llama.cpp" else "bf16"),
                       advise=False)
        r2 = recommend(s, snap, Request(context=long_, engine=engine, precision="Q4_K_M" if engine == "llama.cpp" else "bf16"),
                       advise=False)
        need = {(p.placement): p.memory.total_bytes for p in [r1.plan, *r1.alternatives] if p}
        for p in [r2.plan, *r2.alternatives]:
            if p and p.placement in need:
                assert p.memory.total_bytes >= need[p.placement]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(MODELS), st.floats(4, 80), st.floats(4, 80))
def test_two_gpus_never_admit_a_single_gpu_plan_one_gpu_does_not(name, free0, free1):
    s = spec(name)
    two = machine([gpu(0, "NVIDIA A100-SXM4-80GB", 80, "8.0", free0), gpu(1, "NVIDIA A100-SXM4-80GB", 80, "8.0", free1)],
                  ram_gib=8, ram_free_gib=2)
    rec = recommend(s, two, Request(), advise=False)
    for plan in [rec.plan, *rec.alternatives]:
        if plan is None or plan.placement != "single-gpu":
            continue
        index = plan.gpu_indices[0]
        alone = machine([gpu(0, "NVIDIA A100-SXM4-80GB", 80, "8.0", (free0, free1)[index])], ram_gib=8, ram_free_gib=2)
        single = recommend(s, alone, Request(precision=plan.precision, engine=plan.engine), advise=False)
        assert any(p.placement == "single-gpu" for p in [single.plan, *single.alternatives] if p)


def test_placement_asked_for_is_the_one_planned():
    # two RTX 4090s, a model that fits on one: --placement layer-split still plans the split the user will run, with
    # the prefill's working memory on every GPU (each GPU holds its own)
    snap = machine([gpu(0, "NVIDIA GeForce RTX 4090", 23.99, "8.9"), gpu(1, "NVIDIA GeForce RTX 4090", 23.99, "8.9")])
    split = recommend(spec("Qwen2.5-7B-Instruct"), snap, Request(engine="transformers", placement="layer-split"))
    assert split.plan is not None and split.plan.placement == "layer-split"
    assert all(p.placement == "layer-split" for p in split.alternatives)
    acts = [u.memory.activations_bytes for u in split.plan.per_device]
    assert len(acts) == 2 and acts[0] == acts[1] > 0
    auto = recommend(spec("Qwen2.5-7B-Instruct"), snap, Request(engine="transformers"))
    assert auto.plan is not None and auto.plan.placement == "single-gpu"
    # a layout the machine cannot give is a no, saying why first
    one = recommend(spec("Qwen2.5-7B-Instruct"), rtx4090(), Request(placement="tensor-parallel"))
    assert not one.fits and "tensor-parallel" in one.rejected[0].reason
