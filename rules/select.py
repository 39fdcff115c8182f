"""Choose: enumerate precision x engine x placement, gate each on the hardware (keeping the reason), compute
memory for the rest, and rank by quality, then speed, then headroom. Pure: values in, values out."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from probes.schema import Snapshot
from rules import engines
from rules import placement as P
from rules.advice import advise_no_fit
from rules.context import Redraft, max_context
from rules.devices import Device, Devices, requested_gpu_problem, spannable, usable_devices
from rules.kinds import model_summary, not_modelled
from rules.memory import rule_of_thumb_bytes
from rules.plan import Change, DeviceUse, Memory, Plan, Recommendation, Rejected, Request
from rules.precisions import ALL, BY_NAME, KV_BYTES, Precision, checkpoint_precision, lookup
from rules.ranking import SPEED_RANK, plan_rank, speed_class
from rules.runtimes import EMBEDDING_RUNTIMES, RUNTIMES, SPEECH_RUNTIMES
from rules.spec import ModelSpec
from rules.units import gib

Siblings = Callable[[ModelSpec], Sequence[ModelSpec]]
DEFAULT_CONTEXT_CAP = 8192
MAX_SPLIT = 16
# what vLLM's Gaudi plugin loads (vllm-gaudi vllm_gaudi/platform.py supported_quantization: fp8, inc, awq_hpu,
# gptq_hpu, compressed-tensors, ...; bf16 natively)
GAUDI_PRECISIONS = frozenset({"bf16", "fp8", "awq-int4", "gptq-int4"})
AMD_FP8 = re.compile(r"MI3[0-9]{2}", re.IGNORECASE)  # CDNA3+ (gfx942, gfx950) have FP8 matrix cores (AMD CDNA 3 ISA)
ABILITY_TEXT = {"bf16": "≥ 8.0", "fp8": "8.9 or ≥ 9.0", "fp4": "10.x or 12.x", "int8_tensor_cores": "≥ 7.5"}
MAX_CONTEXT = 10_000_000

GGUF_FILE = Precision("gguf-file", "gguf", 0.0, 4, cpu=True, quality="as quantized in the file",
                      method="the GGUF file itself")


def validate(request: Request) -> list[str]:
    """Problems with a request, one line each (empty when valid)."""
    problems = []
    if request.context is not None and not 1 <= request.context <= MAX_CONTEXT:
        problems.append(f"--context must be between 1 and {MAX_CONTEXT:,} tokens (got {request.context})")
    if request.prompt is not None and not 1 <= request.prompt <= MAX_CONTEXT:
        problems.append(f"--prompt must be between 1 and {MAX_CONTEXT:,} tokens (got {request.prompt})")
    if request.prompt is not None and request.context is not None and request.prompt > request.context:
        problems.append(f"--prompt {request.prompt:,} is longer than --context {request.context:,} (the context holds "
                        "the prompt and the generated tokens)")
    if not 1 <= request.batch <= 65536:
        problems.append(f"--batch must be between 1 and 65536 (got {request.batch})")
    if (request.engine != "auto" and request.engine not in engines.REGISTRY and request.engine not in RUNTIMES
            and request.engine not in SPEECH_RUNTIMES and request.engine not in EMBEDDING_RUNTIMES
            and request.engine != "diffusers"):
        problems.append(f"unknown engine {request.engine!r} (choose from auto, {', '.join(engines.NAMES)}; for vision "
                        f"models {', '.join(RUNTIMES)}; for speech models {', '.join(SPEECH_RUNTIMES)}; for embedding models "
                        f"{', '.join(EMBEDDING_RUNTIMES)}; for diffusion models diffusers)")
    if request.images is not None and not 0 <= request.images <= 256:
        problems.append(f"--images must be between 0 and 256 per sequence (got {request.images})")
    if request.image_size is not None and not all(1 <= v <= 16384 for v in request.image_size):
        problems.append(f"--image-size sides must be between 1 and 16384 pixels (got {request.image_size})")
    if request.precision != "auto" and not lookup(request.precision):
        from rules.precisions import known_names

        problems.append(f"unknown precision {request.precision!r} (known: {', '.join(known_names())})")
    if request.kv_dtype != "auto" and request.kv_dtype not in KV_BYTES:
        problems.append(f"unknown KV cache dtype {request.kv_dtype!r} (choose from auto, {', '.join(KV_BYTES)})")
    if request.headroom_bytes is not None and request.headroom_bytes < 0:
        problems.append("--headroom cannot be negative")
    if request.gpu_memory_utilization is not None and not 0.05 <= request.gpu_memory_utilization <= 1.0:
        problems.append("--gpu-memory-utilization must be between 0.05 and 1.0")
    trainers = engines.training_engines()
    if request.mode in ("finetune", "lora", "qlora") and request.engine not in ("auto", *trainers):
        problems.append(f"--mode {request.mode} runs with {' or '.join(trainers)}, not {request.engine}")
    if request.kv_dtype != "auto" and request.engine in engines.REGISTRY:
        eng = engines.get(request.engine)
        if request.kv_dtype not in eng.kv_dtypes:
            takes = [n for n, e in engines.REGISTRY.items() if request.kv_dtype in e.kv_dtypes]
            problems.append(f"--kv-dtype {request.kv_dtype} is not a KV cache type of {eng.label} (it is one of "
                            f"{', '.join(takes)})")
    if not 1 <= request.lora_rank <= 4096:
        problems.append("--lora-rank must be between 1 and 4096")
    return problems


def default_context(spec: ModelSpec, request: Request) -> int:
    if request.context is not None:
        return request.context
    if request.mode != "inference":
        return min(spec.max_context or 2048, 2048)
    return min(spec.max_context or 4096, DEFAULT_CONTEXT_CAP)


# --- gating -----------------------------------------------------------------------------------------------

def gate(precision: Precision, engine: str, device: Device, snapshot: Snapshot) -> str | None:
    """Why this precision / engine cannot run on this device, or None."""
    p = precision.name
    eng = engines.get(engine)
    if device.kind == "cpu":
        if eng.needs_gpu:
            return f"{engine} needs a GPU"
        if not precision.cpu:
            return f"{p} needs GPU kernels; it does not run on the CPU"
        return None
    if device.hpu:
        if not eng.runs_on_gaudi:
            return (f"{engine} does not run on Intel Gaudi (vLLM does, with the vllm-gaudi plugin; optimum-habana and "
                    "TGI's Gaudi backend are not planned by advisor)")
        if p in GAUDI_PRECISIONS:
            return None
        return (f"{p} does not run on Intel Gaudi: vLLM's Gaudi plugin loads bf16, fp8 (Intel Neural Compressor, "
                "after a calibration run) and AWQ / GPTQ 4-bit checkpoints")
    if device.rocm:
        if not eng.runs_on_rocm:
            return f"{engine} needs CUDA (NVIDIA); it does not run on AMD GPUs"
        if precision.family in ("float", "gguf") or (precision.family == "fp8" and AMD_FP8.search(device.name)):
            return None
        return (f"{p} has no ROCm kernels advisor can vouch for on {device.name}; AMD GPUs run bf16 / fp16, GGUF "
                "(llama.cpp, Ollama) and fp8 on Instinct MI300 and newer")
    if device.apple:
        if not eng.runs_on_apple:
            return f"{engine} does not run on Apple GPUs"
        if precision.family in ("fp8", "int8", "int4", "fp4"):
            return f"{p} needs CUDA kernels; Apple GPUs run GGUF (llama.cpp) or fp16/bf16 (MPS)"
        return None
    cap = device.capability
    where = device.label()
    if cap is None:
        return f"compute capability of {where} is unknown, so {p} / {engine} cannot be checked"
    cc = f"{cap[0]}.{cap[1]}"
    floor = eng.min_cc
    if cap < floor:
        return f"{engine} needs compute capability ≥ {floor[0]}.{floor[1]}; {where} is {cc}"
    abilities = device.gpu.abilities if device.gpu else None
    if precision.needs and (abilities is None or not getattr(abilities, precision.needs)):
        return f"{p} needs compute capability {ABILITY_TEXT[precision.needs]}; {where} is {cc}"
    if precision.min_cc and cap < precision.min_cc:
        return f"{p} needs compute capability ≥ {precision.min_cc[0]}.{precision.min_cc[1]}; {where} is {cc}"
    if eng.checks_torch_kernels and snapshot.torch.installed:
        for dev in snapshot.torch.devices:
            if dev.backend == "cuda" and dev.kernels == "missing" and dev.compute_capability == cc:
                return f"the installed torch {snapshot.torch.version} has no kernels for compute capability {cc} ({where})"
    return None


def precision_preference(precision: Precision, spec: ModelSpec, device: Device) -> int:
    """Among equal quality: the format the hardware runs natively first, then the checkpoint's own dtype.

    BF16 on a device without it in hardware (a GPU below compute capability 8.0 such as a T4 or V100, a CPU
    without AVX512_BF16 / AMX) is emulated or converted: slower than FP16 there, so it comes last.
    """
    native = (spec.native_dtype or "bfloat16").replace("torch.", "")
    name = precision.name
    if name in ("bf16", "BF16"):
        if not device.native_bf16:
            return 2
        return 0 if native == "bfloat16" else 1
    if name in ("fp16", "F16"):
        return 0 if native == "float16" else 1
    if name == "fp32":
        return 0 if native == "float32" and device.kind == "cpu" else 2
    return 0


# --- candidates -------------------------------------------------------------------------------------------

def candidate_precisions(spec: ModelSpec, request: Request) -> tuple[list[Precision], list[Rejected]]:
    rejected: list[Rejected] = []
    wanted = list(ALL) if request.precision == "auto" else list(lookup(request.precision))
    if request.quality_floor is not None:
        wanted = [p for p in wanted if p.quality_rank >= request.quality_floor]
    if not spec.is_moe:
        for p in [p for p in wanted if p.quantized_groups == ("experts",) or p.name == "MXFP4_MOE"]:
            wanted.remove(p)
            if request.precision != "auto":
                rejected.append(Rejected(precision=p.name, engine="any", reason=f"{p.name} checkpoints quantize MoE "
                                         f"experts only (as gpt-oss ships); {spec.name} has no experts"))
    if spec.source == "gguf":
        if request.precision != "auto" and not any(p.family == "gguf" for p in wanted):
            rejected.append(Rejected(precision=request.precision, engine="any",
                                     reason="a GGUF file runs as quantized in the file (llama.cpp / Ollama)"))
        return [GGUF_FILE], rejected
    if request.mode == "finetune":
        return [p for p in wanted if p.name in ("bf16", "fp16", "fp32")], rejected
    if request.mode == "lora":
        return [p for p in wanted if p.name in ("bf16", "fp16")], rejected
    if request.mode == "qlora":
        return [p for p in wanted if p.name == "nf4"] or [p for p in lookup("nf4")], rejected
    if spec.pinned_precision is not None:
        def ships(p: Precision) -> bool:  # "gguf": a GGUF repository, any of its quants
            return p.name == spec.pinned_precision or (spec.pinned_precision == "gguf" and p.family == "gguf")

        pinned = [p for p in wanted if ships(p)] or (
            [] if request.precision != "auto" else [p for p in ALL if ships(p)])
        for p in wanted:
            if not ships(p):
                shipped = "a GGUF repository" if spec.pinned_precision == "gguf" else spec.pinned_precision
                rejected.append(Rejected(precision=p.name, engine="any", reason=f"this checkpoint is "
                                         f"{shipped}; {p.name} needs another checkpoint"))
        return pinned, rejected
    q = spec.quantization
    if q is not None:
        match = checkpoint_precision(q)
        # an MXFP4 checkpoint also runs as its GGUF build (MXFP4 experts): llama.cpp and Ollama; and an engine that
        # loads it dequantized, asked for by name, as bf16 (see engines_for)
        also = "MXFP4_MOE" if match == "mxfp4" else None
        asked = engines.REGISTRY.get(request.engine)
        dequantized = "bf16" if match == "mxfp4" and asked is not None and asked.loads_mxfp4_as_bf16 else None
        keep = [p for p in wanted if p.name in (match, also, dequantized)]
        for p in wanted:
            if p.name not in (match, also, dequantized):
                rejected.append(Rejected(precision=p.name, engine="any",
                                         reason=f"this checkpoint is already {q.method}"
                                                f"{f' {q.bits:g}-bit' if q.bits else ''}; {p.name} needs another checkpoint"))
        return keep, rejected
    return wanted, rejected


def engines_for(precision: Precision, request: Request, spec: ModelSpec) -> list[str]:
    if request.mode != "inference":
        return list(engines.training_engines())
    names = list(engines.running(precision))
    q = spec.quantization
    if q is not None and precision.name == "bf16" and checkpoint_precision(q) == "mxfp4":
        names = [n for n in names if engines.get(n).loads_mxfp4_as_bf16]
    if request.engine != "auto":
        return [e for e in names if e == request.engine]
    return [e for e in names if engines.get(e).auto]  # Ollama: the same runtime as llama.cpp, by name only


def _gate_kind(d: Device) -> tuple[object, ...]:
    """What a gate looks at: devices alike in it pass or fail together."""
    g = d.gpu
    return (d.kind, d.name, d.apple, d.rocm, d.hpu, d.unified, d.is_mig, g.compute_capability if g else None,
            g.abilities if g else None)


def _one_per_kind(gpus: tuple[Device, ...]) -> tuple[Device, ...]:
    """Of identical GPUs, the one with the most budget (the first on a tie), in NVML order."""
    best: dict[tuple[object, ...], Device] = {}
    for g in gpus:
        kind = (g.name, g.total, g.unified, g.apple, "/mig:" in g.key, g.gpu.compute_capability if g.gpu else None,
                g.gpu.abilities if g.gpu else None)
        if kind not in best or g.budget > best[kind].budget:
            best[kind] = g
    keep = {id(g) for g in best.values()}
    return tuple(g for g in gpus if id(g) in keep)


def placements(job: P.Job, devs: Devices, one_single_per_kind: bool = False) -> Iterator[P.Draft]:
    """Every placement this engine supports on these devices. No placement spans two MIG instances or a
    unified-memory GPU and another device; with `--gpus` none runs on the CPU alone."""
    gpus = devs.gpus
    mode = job.request.mode
    cpu = devs.cpu
    together = spannable(gpus)
    if mode != "inference":
        for g in _one_per_kind(gpus) if one_single_per_kind else gpus:
            yield P.training(job, (g,))
        if mode == "finetune":
            yield from (P.training(job, group) for group in _identical_groups(gpus))
        elif len(together) > 1:
            yield P.layer_split(job, tuple(sorted(together, key=lambda d: -d.budget))[:MAX_SPLIT])
        if not gpus and cpu is not None and devs.cpu_only_allowed:
            yield P.training(job, (cpu,))
        return
    for g in _one_per_kind(gpus) if one_single_per_kind else gpus:
        yield P.single(job, g)
    eng = job.eng
    if eng.tensor_parallel:
        heads = job.spec.heads or 1
        for group in _identical_groups(gpus):
            if heads % len(group) == 0:
                yield P.tensor_parallel(job, group)
    if eng.layer_split and len(together) > 1:
        # the GPUs with the most room; a split over more than MAX_SPLIT GPUs is not a plan a person runs
        yield P.layer_split(job, tuple(sorted(together, key=lambda d: -d.budget))[:MAX_SPLIT])
    if cpu is not None and not eng.needs_gpu:
        offloadable = [g for g in gpus if not g.unified]
        if eng.offload and offloadable:
            best = max(offloadable, key=lambda d: d.budget)
            yield P.offload(job, best, cpu)
        if devs.cpu_only_allowed:
            yield P.single(job, cpu)


def _identical_groups(gpus: tuple[Device, ...]) -> Iterator[tuple[Device, ...]]:
    """Groups of 2, 4, 8 identical discrete GPUs (the ones with the most free memory)."""
    by_kind: dict[tuple[str, int], list[Device]] = {}
    for g in gpus:
        if not g.unified and not g.is_mig:
            by_kind.setdefault((g.name, g.total), []).append(g)
    for same in by_kind.values():
        same.sort(key=lambda d: -d.budget)
        for size in (2, 4, 8):
            if len(same) >= size:
                yield tuple(same[:size])


# --- plans --------------------------------------------------------------------------------------------------

def _plan(job: P.Job, draft: P.Draft, devs: Devices) -> tuple[Plan, int]:
    spec, p, req = job.spec, job.precision, job.request
    totals = Memory(**{k: sum(getattr(u.memory, k) for u in draft.uses) for k in
                       ("weights_bytes", "kv_cache_bytes", "activations_bytes", "runtime_bytes", "total_bytes")})
    if any(u.memory.typical_total_bytes is not None for u in draft.uses):
        typical = sum(u.memory.typical_total_bytes if u.memory.typical_total_bytes is not None else u.memory.total_bytes
                      for u in draft.uses)
        totals = totals.model_copy(update={"typical_total_bytes": typical})
    if len(draft.uses) == 1 and draft.uses[0].memory.prefill_bytes is not None:
        only = draft.uses[0].memory
        totals = totals.model_copy(update={"prefill_bytes": only.prefill_bytes, "decode_bytes": only.decode_bytes})
    gpu_indices = sorted({u.index for u in draft.uses if u.kind == "gpu" and u.index is not None})
    cuda, order = _cuda_ids(draft, devs)
    room = min((1 - u.memory.total_bytes / u.budget_bytes) if u.budget_bytes else -1.0 for u in draft.uses)
    device = next((d for d in (*devs.gpus, devs.cpu) if d is not None and d.key == draft.uses[0].device), None)
    notes = list(draft.notes)
    hpu = [g for g in devs.gpus if g.hpu and g.key in {u.device for u in draft.uses}]
    if hpu:
        ids = ",".join(g.key.removeprefix("gpu:hpu") for g in hpu)
        notes.append(f"Intel Gaudi: select it with HABANA_VISIBLE_MODULES={ids} (check the module IDs with hl-smi), and "
                     "install the vllm-gaudi plugin over vLLM")
    rocm = [g for g in devs.gpus if g.rocm and g.key in {u.device for u in draft.uses}]
    if rocm:
        ids = ",".join(g.key.removeprefix("gpu:rocm") for g in rocm)
        notes.append(f"AMD GPU: select it with HIP_VISIBLE_DEVICES={ids} (the probe's order of AMD cards; check with "
                     "rocm-smi), and use the engine's ROCm build")
    if not spec.exact:
        notes.append("the model's size is approximate, so is this plan")
    images, image_tokens = None, None
    if spec.tower is not None:
        from rules.towers import batch_tower, images_of

        images = images_of(spec, req.images)
        one, tower = batch_tower(spec, req.images, req.image_size, req.batch, 4 if p.name == "fp32" else 2)
        if one is not None:
            image_tokens = one.tokens
            where = (f"{one.tokens:,} tokens of the context each" if spec.tower.in_context else
                     "cross-attended, no context tokens")
            held = f"{tower / 2**30:.2f} GiB"
            notes.append(f"{images} image(s) of {one.width}x{one.height} px per sequence ({one.patches:,} patches in "
                         f"the vision tower; {where}): the tower holds {held} while it encodes the batch's "
                         "images (--images, --image-size)")
        else:
            notes.append("no image planned (--images 0): the vision tower's weights are counted, its working memory "
                         "is not")
    quality, quality_text = p, p.quality
    if spec.quantization is not None and checkpoint_precision(spec.quantization) == "mxfp4" and p.name == "bf16":
        # the checkpoint's MXFP4 weights dequantized: their quality, not bf16's
        quality = BY_NAME["mxfp4"]
        quality_text = f"{quality.quality}, dequantized to bf16 as it loads"
    rope = rope_scaling(spec, job.context)
    if rope is not None:
        notes.append(f"{job.context:,} tokens extends the trained {spec.max_context:,} by rope scaling (YaRN, factor "
                     f"{rope['factor']:g}): set in the settings below; quality past the trained length is not guaranteed")
    return Plan(
        model=spec.name, precision=p.name, engine=job.engine, placement=draft.placement,
        devices=[u.device for u in draft.uses], gpu_indices=gpu_indices, cuda_visible_devices=cuda,
        cuda_device_order=order, mode=req.mode,
        context=job.context, prompt=job.prompt if req.prompt else None, batch=req.batch, images=images,
        image_tokens=image_tokens,
        kv_dtype=_kv_name(req.kv_dtype, p), memory=totals,
        per_device=list(draft.uses), fits=draft.fits, quality_rank=quality.quality_rank,
        speed_rank=SPEED_RANK[draft.placement], speed_class=speed_class(draft.placement),
        headroom_fraction=round(room, 4), gpu_layers=draft.gpu_layers,
        total_layers=spec.layers, tensor_parallel_size=draft.tensor_parallel_size,
        gpu_memory_utilization=draft.gpu_memory_utilization, torch_dtype=p.torch_dtype, quality=quality_text,
        method=p.method, estimated=True, approximate=not spec.exact, rope_scaling=rope, notes=notes,
        measured_bytes=draft.measured_bytes,
    ), precision_preference(p, spec, device) if device else 0


def _kv_name(kv_dtype: str, p: Precision) -> str:
    if kv_dtype != "auto":
        return kv_dtype
    return "fp32" if p.name == "fp32" else ("f16" if p.family == "gguf" else "auto")


def _cuda_ids(draft: P.Draft, devs: Devices) -> tuple[str | None, str | None]:
    """(CUDA_VISIBLE_DEVICES, CUDA_DEVICE_ORDER) that select this plan's devices in the caller's environment.

    CUDA numbers devices fastest-first unless CUDA_DEVICE_ORDER=PCI_BUS_ID, and an index in CUDA_VISIBLE_DEVICES
    counts among the devices the caller's own CUDA_VISIBLE_DEVICES left (Slurm sets it). Handing back NVML
    indices with PCI_BUS_ID, to be exported together, selects the same physical GPUs whatever was set before. A
    MIG instance is selected only by its MIG- UUID.
    """
    by_key = {g.key: g for g in devs.gpus}
    ids = []
    for u in draft.uses:
        if u.kind != "gpu":
            continue
        dev = by_key.get(u.device)
        if dev is not None and dev.mig_uuid:
            ids.append(dev.mig_uuid)
        elif u.index is not None:
            ids.append(str(u.index))
    if not ids:
        return None, None
    return ",".join(ids), "PCI_BUS_ID"


def rope_scaling(spec: ModelSpec, context: int) -> dict[str, Any] | None:
    """The rope scaling a context beyond the trained maximum needs (YaRN over the trained length), or None."""
    trained = spec.max_context
    if not trained or context <= trained:
        return None
    return {"rope_type": "yarn", "factor": round(context / trained, 4), "original_max_position_embeddings": trained}


def _rank(plan: Plan, pref: int) -> tuple[float, ...]:
    return plan_rank(plan, pref)


def evaluate(spec: ModelSpec, snapshot: Snapshot, request: Request, joint: bool = False,
             ) -> tuple[list[tuple[Plan, int, P.Job, Redraft]], list[Rejected], Devices, int]:
    """Every candidate: (plan, preference, job, re-evaluation function) for placeable ones, rejections for the rest."""
    devs = usable_devices(snapshot, request)
    context = default_context(spec, request)
    precisions, rejected = candidate_precisions(spec, request)
    results: list[tuple[Plan, int, P.Job, Redraft]] = []
    # of identical GPUs, a single-GPU plan is drafted on the one with the most room (the same plan on each
    # other one is never better); a machine with thousands of GPUs decides as fast as one with a few kinds
    for job, draft, sub in drafts(spec, snapshot, request, devs, precisions, rejected, joint, one_single_per_kind=True):
        plan, pref = _plan(job, draft, sub)
        results.append((plan, pref, job, _redraft(draft, sub)))
    return results, rejected, devs, context


def drafts(spec: ModelSpec, snapshot: Snapshot, request: Request, devs: Devices, precisions: Iterable[Precision],
           rejected: list[Rejected], joint: bool = False, one_single_per_kind: bool = False,
           ) -> Iterator[tuple[P.Job, P.Draft, Devices]]:
    """Every placeable (job, draft, the devices it was drafted on); rejections are appended to `rejected`.

    `one_single_per_kind`: of identical GPUs, draft a single-GPU placement only on the one with the most free
    memory (the first, on a tie). It is the one that fits whenever another does and it has the most room, so
    the best plan is unchanged; the fleet matrix uses this, `recommend` lists every GPU.
    """
    context = default_context(spec, request)
    for p in precisions:
        names = engines_for(p, request, spec)
        if not names:
            rejected.append(Rejected(precision=p.name, engine=request.engine,
                                     reason=f"{p.name} does not run on {request.engine} (it runs on "
                                            f"{', '.join(engines.running(p))})"))
            continue
        for engine in names:
            kv = P.kv_element_bytes(request.kv_dtype, p)
            eng = engines.get(engine)
            if request.kv_dtype != "auto" and request.kv_dtype not in eng.kv_dtypes:
                takes = [n for n, e in engines.REGISTRY.items() if request.kv_dtype in e.kv_dtypes]
                rejected.append(Rejected(precision=p.name, engine=engine, reason=f"a {request.kv_dtype} KV cache is not "
                                         f"{eng.label}'s (it is {', '.join(takes)}'s)"))
                continue
            unsupported = eng.unsupported_reason(spec) or eng.kv_dtype_reason(spec, request.kv_dtype)
            if unsupported:
                if all(r.reason != unsupported for r in rejected):
                    rejected.append(Rejected(precision=p.name, engine=engine, reason=unsupported))
                continue
            own = eng.default_context(spec, sum(d.total for d in devs.gpus)) if request.context is None else None
            job = P.Job(spec, p, engine, request, own or context, kv, joint)
            allowed = []
            seen: dict[tuple[object, ...], str | None] = {}
            for d in (*devs.gpus, *([devs.cpu] if devs.cpu else [])):
                kind = _gate_kind(d)
                first = kind not in seen
                why = gate(p, engine, d, snapshot) if first else seen[kind]
                seen[kind] = why
                if why is None:
                    allowed.append(d)
                elif first and (d.kind == "gpu" or not eng.needs_gpu or not devs.gpus):
                    # one rejection per kind of device: identical GPUs fail the same gate for the same reason
                    rejected.append(Rejected(precision=p.name, engine=engine, placement=d.key, reason=why))
            sub = replace(devs, gpus=tuple(d for d in allowed if d.kind == "gpu"),
                          cpu=devs.cpu if devs.cpu in allowed else None)
            if not sub.gpus and sub.cpu is None:
                continue
            for draft in placements(job, sub, one_single_per_kind):
                if not _placement_asked(draft.placement, request):
                    continue
                if draft.problem:
                    rejected.append(Rejected(precision=p.name, engine=engine, placement=draft.placement,
                                             reason=f"{p.name} / {engine} ({draft.placement}): {draft.problem}"))
                    continue
                yield job, draft, sub


def _placement_asked(placement: str, request: Request) -> bool:
    """--placement: only the layout the user will run (a unified-memory GPU counts as a single GPU)."""
    if request.placement == "auto":
        return True
    return placement == request.placement or (request.placement == "single-gpu" and placement == "unified")


def _redraft(draft: P.Draft, devs: Devices) -> Redraft:
    """A function re-evaluating the same placement for another job (another context)."""
    keys = [u.device for u in draft.uses]
    pool = {d.key: d for d in (*devs.gpus, *([devs.cpu] if devs.cpu else []))}
    chosen = tuple(pool[k] for k in keys)

    def again(job: P.Job) -> P.Draft:
        if job.request.mode != "inference":
            return P.training(job, chosen)
        if draft.placement == "tensor-parallel":
            return P.tensor_parallel(job, chosen)
        if draft.placement == "layer-split":
            return P.layer_split(job, chosen)
        if draft.placement == "offload":
            return P.offload(job, chosen[0], chosen[1])
        return P.single(job, chosen[0])

    return again


def recommend(spec: ModelSpec, snapshot: Snapshot, request: Request, *, joint: bool = False,
              advise: bool = True, siblings: Siblings | None = None) -> Recommendation:
    """The best plan for `spec` on `snapshot`, the runners-up, every rejection with its reason, and — when
    nothing fits — what is missing and what would make it fit (`siblings(spec)`: the caller's other models of
    the same family, offered when smaller ones fit).

    The verdict (`fits`) is never a guess: when the decision needs a device that could not be read, or the
    model is known only approximately (and the request does not accept that), `cannot_tell` says why and
    `fits` is False; the plan, when there is one, is still the estimate.

    Raises:
        ValueError: when the request is invalid (see `validate`) or names GPUs that are not there.
    """
    problems = validate(request)
    if problems:
        raise ValueError("; ".join(problems))
    gpu_problem = requested_gpu_problem(snapshot, request)
    if gpu_problem:
        raise ValueError(gpu_problem)
    context = default_context(spec, request)
    model = model_summary(spec, spec.max_context)
    rot = rule_of_thumb_bytes(nominal_params(spec), rule_of_thumb_bytes_per_param(request.precision))
    asked = request.model_copy(update={"context": context})
    if spec.kind != "text-generation":
        return not_modelled(spec, request, model)
    if (spec.max_context and context > spec.max_context and not request.extend_context
            and "max_context" not in spec.estimated):
        return _beyond_trained(spec, asked, model, rot)
    results, rejected, devs, context = evaluate(spec, snapshot, request, joint)
    if request.placement != "auto" and not results:
        rejected.insert(0, Rejected(precision="any", engine=request.engine, placement=request.placement,
                                 reason=f"no plan can be laid out as {request.placement} here (engines and devices "
                                        "that allow it: tensor-parallel needs identical GPUs and vLLM, SGLang or "
                                        "TensorRT-LLM; layer-split two GPUs or more; offload a GPU and RAM)"))
    fitting = [(plan, pref, job, fn) for plan, pref, job, fn in results if plan.fits]
    fitting.sort(key=lambda r: _rank(r[0], r[1]))
    best: list[Plan] = []
    seen: set[tuple[str, str]] = set()
    for plan, _pref, job, fn in fitting:
        if (plan.precision, plan.engine) in seen:
            continue
        seen.add((plan.precision, plan.engine))
        best.append(plan.model_copy(update={"max_context": max_context(job, fn, spec)}))
        if len(best) == 5:
            break
    if best and best[0].speed_class != "all-gpu":
        # below 4-bit quality, quality ranks first; still show the best plan that runs entirely on GPUs
        fast = next(((plan, job, fn) for plan, _p, job, fn in fitting if plan.speed_class == "all-gpu"), None)
        if fast is not None and fast[0].key not in {b.key for b in best}:
            plan, job, fn = fast
            fastest = plan.model_copy(update={"max_context": max_context(job, fn, spec),
                                              "notes": [*plan.notes, "the fastest plan that fits: all on GPU"]})
            best.insert(1, fastest)
    for plan, _pref, _job, _fn in results:
        if not plan.fits:
            worst = max(plan.per_device, key=lambda u: u.memory.total_bytes - (u.budget_bytes or 0))
            rejected.append(Rejected(
                precision=plan.precision, engine=plan.engine, placement=plan.placement,
                reason=f"{plan.precision} / {plan.engine} ({plan.placement}): needs {gib(worst.memory.total_bytes)} on "
                       f"{_device_label(worst)}, {gib(worst.budget_bytes)} usable ({gib(worst.free_bytes)} free minus headroom)"))
    shipped = spec.pinned_precision or (checkpoint_precision(spec.quantization) if spec.quantization else None)
    if shipped is not None:
        # the checkpoint's own format's reasons first: they say why it does not run, the others only that it is pinned
        rejected.sort(key=lambda r: r.precision != shipped)
    notes = list(devs.notes)
    best = [_own_context(p, context) for p in best]
    if best and best[0].context != context:
        asked = asked.model_copy(update={"context": best[0].context})
    cannot_tell = _cannot_tell(devs, request, bool(best), notes)
    if not spec.exact and not request.allow_approximate and cannot_tell is None:
        cannot_tell = approximate_reason(spec)
    rec = Recommendation(model=model, request=asked, fits=bool(best) and cannot_tell is None,
                         plan=best[0] if best else None, alternatives=best[1:], rejected=rejected,
                         rule_of_thumb_bytes=rot, cannot_tell=cannot_tell, notes=notes)
    if not best and advise and results:
        rec = advise_no_fit(rec, spec, snapshot, request, results, _decide, siblings(spec) if siblings else ())
    return rec


def _own_context(plan: Plan, asked: int) -> Plan:
    """A plan whose engine chose its own context when none was asked (Ollama's default by VRAM) says so."""
    if plan.context is None or plan.context == asked:
        return plan
    note = (f"{engines.get(plan.engine).label} picks a context of {plan.context:,} tokens itself on this machine "
            "when none is set, so the plan is sized for that; the settings set it explicitly (--context changes it)")
    return plan.model_copy(update={"notes": [*plan.notes, note]})


def _decide(spec: ModelSpec, snapshot: Snapshot, request: Request) -> Recommendation:
    """The decision without advice: what the no-fit advice asks of every change it tries."""
    return recommend(spec, snapshot, request, advise=False)


def _cannot_tell(devs: Devices, request: Request, found: bool, notes: list[str]) -> str | None:
    """Why the verdict cannot be trusted because of the hardware, or None. Appends what it notices to `notes`."""
    why = None
    if devs.nvml_problem:
        notes.append(f"NVML could not be read ({devs.nvml_problem}); GPU plans were not considered")
        gpu_only = request.engine != "auto" and engines.get(request.engine).needs_gpu
        if not found or gpu_only or request.devices is not None:
            why = f"the GPUs could not be read: {devs.nvml_problem}"
    if devs.unreadable:
        notes.extend(f"{u}; not used" for u in devs.unreadable)
        if request.devices is not None:
            why = why or f"a GPU named by --gpus could not be read: {'; '.join(devs.unreadable)}"
        elif not found:
            why = why or f"{'; '.join(devs.unreadable)}, and nothing fits without it"
    if not found and not devs.gpus and devs.cpu is None and why is None:
        why = "no usable device: neither GPU memory nor RAM could be read"
    return why


def approximate_reason(spec: ModelSpec) -> str:
    """"cannot tell" for a model known only approximately, with what to pass instead."""
    unchecked = next((n for n in spec.notes if "not yet checked against a published total" in n), None)
    if unchecked is not None:  # the config was read; the architecture's count is what is not yet held to a figure
        return (f"{spec.name} is known only approximately ({unchecked}); pass --allow-approximate to accept the "
                "count")
    how = next((n.split(": ", 1)[1] for n in spec.notes if n.startswith("APPROXIMATE: ")), "its size is an estimate")
    return (f"{spec.name} is known only approximately ({how}); name a model directory, a .safetensors or .gguf file "
            "or a Hugging Face repo id (with its config.json) for an exact answer, or pass --allow-approximate "
            "to accept an estimate")


def _beyond_trained(spec: ModelSpec, request: Request, model: dict[str, Any], rot: int | None) -> Recommendation:
    """A context past the model's trained maximum is not a fit unless asked for with --extend-context."""
    assert spec.max_context is not None and request.context is not None
    trained, ctx = spec.max_context, request.context
    factor = ctx / trained
    reason = (f"--context {ctx:,} is beyond the {trained:,} tokens {spec.name} was trained for; pass --extend-context "
              f"to plan it with rope scaling (YaRN, factor {factor:.4g})")
    changes = [Change(kind="context", description=f"--context {trained}: the model's trained maximum"),
               Change(kind="extend-context", description=f"--extend-context: YaRN rope scaling, factor {factor:.4g} "
                                                         f"over {trained:,} tokens (quality past it not guaranteed)")]
    why = approximate_reason(spec) if not spec.exact and not request.allow_approximate else None
    return Recommendation(model=model, request=request, fits=False, plan=None,
                          rejected=[Rejected(precision="any", engine="any", reason=reason)], changes=changes,
                          rule_of_thumb_bytes=rot, cannot_tell=why)


def _device_label(use: DeviceUse) -> str:
    return "CPU RAM" if use.kind == "cpu" else f"GPU {use.device[4:]} ({use.name})"


def rule_of_thumb_bytes_per_param(precision: str) -> float:
    """Bytes per parameter the rule of thumb uses: 2 (FP16) unless a precision is named."""
    rows = lookup(precision) if precision != "auto" else ()
    if not rows:
        return 2.0
    if rows[0].family == "gguf":
        from rules.gguf_mix import MIXES, TYPE_BITS

        return TYPE_BITS[MIXES[rows[0].name].base] / 8
    return rows[0].bits / 8


def nominal_params(spec: ModelSpec) -> int:
    """The size people quote ("7B"), which the resolver read from the name; else the exact count."""
    return spec.nominal_params or spec.params_total
