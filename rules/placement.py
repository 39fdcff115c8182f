"""Memory of one (precision, engine) on one placement: per-device Memory, and whether it fits."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from rules import engines
from rules import memory as M
from rules.devices import Device
from rules.engines import Engine, Target
from rules.plan import DeviceUse, Measured, Memory, Placement, Request
from rules.precisions import KV_BYTES, Precision
from rules.spec import ModelSpec


@dataclass(frozen=True)
class Draft:
    """A placement evaluated at one context."""

    placement: Placement
    uses: tuple[DeviceUse, ...]
    fits: bool
    gpu_layers: int | None = None
    tensor_parallel_size: int | None = None
    gpu_memory_utilization: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    problem: str | None = None  # why it cannot be placed at all (not a memory shortfall)
    measured_bytes: int | None = None  # a peak recorded here for this configuration (advisor verify --record)

    @property
    def shortfall(self) -> int:
        """Bytes missing on the tightest device (0 when it fits)."""
        return max((u.memory.total_bytes - (u.budget_bytes or 0) for u in self.uses), default=0)


def _mem(weights: int, kv: int, act: int, runtime: int) -> Memory:
    return Memory(weights_bytes=int(weights), kv_cache_bytes=int(kv), activations_bytes=int(act),
                  runtime_bytes=int(runtime), total_bytes=int(weights + kv + act + runtime))


def _use(device: Device, memory: Memory, reserved: int | None = None) -> DeviceUse:
    need = reserved if reserved is not None else memory.total_bytes
    return DeviceUse(device=device.key, name=device.name, kind=device.kind, index=device.index, memory=memory,
                     free_bytes=device.free, budget_bytes=device.budget, reserved_bytes=reserved,
                     fits=need <= device.budget and memory.total_bytes <= device.budget)


def kv_element_bytes(kv_dtype: str, precision: Precision) -> float:
    if kv_dtype != "auto":
        return KV_BYTES[kv_dtype]
    return 4.0 if precision.name == "fp32" else 2.0


@dataclass(frozen=True)
class Job:
    spec: ModelSpec
    precision: Precision
    engine: str
    request: Request
    context: int
    kv_bytes: float
    joint: bool = False  # placing several models: pre-allocating engines reserve only what they need

    @property
    def eng(self) -> Engine:
        return engines.get(self.engine)

    @property
    def prompt(self) -> int:
        """The prefill's length: the request's prompt, never more than the context (the whole context by default)."""
        return min(self.request.prompt, self.context) if self.request.prompt else self.context

    def measured(self, device: str) -> Measured | None:
        """A peak recorded on `device` for exactly this configuration (advisor verify --record), the newest."""
        same = [m for m in self.request.measured
                if (m.precision, m.engine, m.device, m.context, m.prompt, m.batch, m.kv_dtype)
                == (self.precision.name, self.engine, device, self.context, self.prompt, self.request.batch,
                    self.request.kv_dtype)]
        return max(same, key=lambda m: m.measured_at) if same else None


def measured_floor(memory: Memory, measured: Measured) -> tuple[Memory, str]:
    """The memory never below a peak measured for the same configuration on the same device: what the estimate
    missed is added to the working memory (the term a measurement cannot split), and a note says so."""
    from rules.units import gib

    when = measured.measured_at[:10]
    if measured.peak_bytes <= memory.total_bytes:
        typical = memory.typical_total_bytes
        if typical is not None and measured.median_bytes > typical:
            memory = memory.model_copy(update={"typical_total_bytes": measured.median_bytes})
        return memory, (f"measured here by advisor verify ({when}, {measured.runs} run(s)): peak "
                        f"{gib(measured.peak_bytes)}, within this estimate")
    missed = measured.peak_bytes - memory.total_bytes
    update: dict[str, int] = {"activations_bytes": memory.activations_bytes + missed, "total_bytes": measured.peak_bytes}
    if memory.typical_total_bytes is not None:
        update["typical_total_bytes"] = max(memory.typical_total_bytes, measured.median_bytes)
    return memory.model_copy(update=update), (
        f"corrected by a measurement here (advisor verify, {when}, {measured.runs} run(s)): the peak was "
        f"{gib(measured.peak_bytes)}, {gib(missed)} above the estimate; the plan uses the measurement")


_TARGETS: dict[tuple[object, ...], Target] = {}


def target_of(device: Device) -> Target | None:
    """What an engine's memory rules may ask of the GPU (None for the CPU); one per kind of GPU, since a decision
    asks for it once per placement tried."""
    if device.kind == "cpu":
        return None
    key = (device.name, device.total, device.gpu.compute_capability if device.gpu else None, device.rocm, device.hpu)
    hit = _TARGETS.get(key)
    if hit is None:
        if len(_TARGETS) > 256:
            _TARGETS.clear()
        hit = _TARGETS[key] = Target(device.name, device.total, device.capability, device.rocm, device.hpu)
    return hit


Parts = tuple[M.WeightSplit, int, int, int]  # weights, the whole KV, working memory per device, runtime per device
PhaseParts = tuple[int, int, int]  # the prompt's KV, the prefill's working memory, the end of decode's
_PARTS: dict[tuple[object, ...], tuple[ModelSpec, Parts, PhaseParts | None]] = {}


def _cached_parts(job: Job, device: Device, tp: int) -> tuple[Parts, PhaseParts | None]:
    """The job's parts on `device` and its phases, remembered per model, job and GPU, since one decision asks for
    the same parts once per device and placement."""
    target = target_of(device)
    key = (id(job.spec), job.precision.name, job.engine, job.context, job.prompt, job.request.batch, job.kv_bytes,
           target, tp, job.request.images, job.request.image_size)
    hit = _PARTS.get(key)
    if hit is not None and hit[0] is job.spec:
        return hit[1], hit[2]
    parts, phased = _compute_parts(job, target, tp)
    if len(_PARTS) > 4096:
        _PARTS.clear()
    _PARTS[key] = (job.spec, parts, phased)
    return parts, phased


def _inference_parts(job: Job, device: Device, tp: int = 1) -> Parts:
    """(weights, KV total, activations per device, runtime per device) on `device` (for several GPUs, the first:
    the one engines read their defaults from)."""
    return _cached_parts(job, device, tp)[0]


def _phase_parts(job: Job, device: Device) -> PhaseParts | None:
    """(the prompt's whole KV, the prefill's working memory, the decode's) when the engine models its phases and
    the prompt is shorter than the context (see _phases); None when one phase is the peak."""
    return _cached_parts(job, device, 1)[1]


def _compute_parts(job: Job, target: Target | None, tp: int) -> tuple[Parts, PhaseParts | None]:
    spec, p, eng, ctx, batch = job.spec, job.precision, job.eng, job.context, job.request.batch
    on_cpu = target is None
    w = M.weight_split(spec, p)
    extra = eng.extra_weights(spec, p, on_cpu)
    if extra:
        w = replace(w, total=w.total + extra, outside=w.outside + extra)
    kv = M.kv_cache_bytes(spec, eng, ctx, batch, job.kv_bytes)  # the whole sequence: prompt and generated tokens
    prefill = _prefill_working(job, target, tp)
    phased = _phases(job, target, tp, prefill)
    # the peak is the larger phase: the prefill holds the prompt's KV and its working memory, the end of decode the
    # whole cache and one step's transient; beyond the whole cache that is what the larger one adds
    act = prefill if phased is None else max(prefill - (kv - phased[0]), phased[2])
    # loading holds its transient before the cache exists: beyond the whole cache, it adds what exceeds the cache
    act = max(act, eng.load_working(spec, p, on_cpu) - kv)
    return (w, kv, act, eng.runtime(on_cpu, spec, batch, target)), phased


def _prefill_working(job: Job, target: Target | None, tp: int) -> int:
    """The prefill's working memory at the longest prompt, with a vision tower's encoding of the batch's images."""
    spec, p, eng, batch = job.spec, job.precision, job.eng, job.request.batch
    act = eng.activations(spec, p, job.prompt, batch, tp, target is None, target)
    if spec.tower is not None:
        from rules.towers import batch_tower

        elem = 4 if p.name == "fp32" else 2  # towers stay 16-bit beside quantized text weights
        _one, tower = batch_tower(spec, job.request.images, job.request.image_size, batch, elem)
        act = max(act, tower) if eng.tower_shares_workspace else act + tower
    return act


def _phases(job: Job, target: Target | None, tp: int, prefill: int) -> PhaseParts | None:
    """(the prompt's KV, the prefill's working memory, the end of decode's) on one GPU of an engine that models its
    phases, when the prompt is shorter than the context (otherwise the prefill holds the whole cache already and is
    the peak); None otherwise. The CPU keeps the prefill's working memory in its heap through the decode, so its
    peak is not split."""
    spec, eng, batch = job.spec, job.eng, job.request.batch
    if target is None or tp != 1 or job.prompt >= job.context or eng.preallocates_kv:
        return None
    working = eng.phase_working(spec, job.precision, job.prompt, job.context, batch, job.kv_bytes, False, target)
    if working is None:
        return None
    return M.kv_cache_bytes(spec, eng, job.prompt, batch, job.kv_bytes), prefill, working["decode"][0]


def phase_totals(job: Job, device: Device) -> tuple[int, int] | None:
    """(prefill peak, end-of-decode peak) of a one-device plan, bytes, when the engine models its phases and they
    differ (a prompt shorter than the context); what `Memory.total_bytes` takes the larger of."""
    phased = _phase_parts(job, device)
    if phased is None:
        return None
    w, kv, _act, runtime = _inference_parts(job, device)
    kv_prompt, prefill, decode = phased
    return w.total + kv_prompt + prefill + runtime, w.total + kv + decode + runtime


def single(job: Job, device: Device) -> Draft:
    """Everything on one device (a GPU, a unified-memory GPU, or the CPU)."""
    on_cpu = device.kind == "cpu"
    w, kv, act, runtime = _inference_parts(job, device)
    placement: Placement = "cpu" if on_cpu else "unified" if device.unified else "single-gpu"
    if job.eng.memory_flag is not None and not on_cpu:
        return _preallocating(job, (device,), 1)
    memory = _mem(w.total, kv, act, runtime)
    phases = phase_totals(job, device)
    if phases is not None:
        memory = memory.model_copy(update={"prefill_bytes": phases[0], "decode_bytes": phases[1]})
    if on_cpu:
        extra = job.eng.typical_extra(job.spec, job.precision, job.prompt, job.request.batch)
        if extra is not None:
            memory = memory.model_copy(update={"typical_total_bytes": memory.total_bytes - extra})
    notes = job.eng.cpu_notes() if on_cpu else ()
    measured = job.measured(device.key)
    if measured is not None:
        memory, note = measured_floor(memory, measured)
        notes = (*notes, note)
    use = _use(device, memory)
    return Draft(placement, (use,), use.fits, gpu_layers=None if on_cpu else w.layers, notes=notes,
                 measured_bytes=measured.peak_bytes if measured else None)


def _preallocating(job: Job, devices: tuple[Device, ...], tp: int) -> Draft:
    """vLLM / SGLang / TensorRT-LLM: each GPU holds its share of the weights and KV heads; what the engine
    reserves, and whether the plan fits in it, is the engine's own rule (its memory flag)."""
    spec = job.spec
    w, kv, act, runtime = _inference_parts(job, devices[0], tp)
    kv_shards = 1 if spec.mla is not None else max(1, min(tp, spec.kv_heads or 1))
    per_gpu = _mem(math.ceil(w.total / tp), math.ceil(kv / kv_shards), act, runtime)
    uses = []
    flags = []
    for d in devices:
        r = job.eng.reserve(per_gpu.weights_bytes, per_gpu.kv_cache_bytes, act + runtime, d.total, d.free, d.budget,
                            job.request.gpu_memory_utilization, job.joint, target_of(d))
        assert r is not None
        use = _use(d, per_gpu, r.reserved_bytes)
        uses.append(use.model_copy(update={"fits": r.fits}))
        flags.append(r.fraction)
    placement: Placement = "tensor-parallel" if tp > 1 else ("unified" if devices[0].unified else "single-gpu")
    chosen: float | None = min(flags) if flags else None
    notes: tuple[str, ...] = ()
    # (on a Gaudi the flag is a share of what the weights leave, so a lower value says nothing about other processes)
    if chosen is not None and job.request.gpu_memory_utilization is None and chosen < 0.85 and not devices[0].hpu:
        notes = (f"{job.eng.memory_flag} {chosen:.2f} (below the engine's default): other processes hold memory",)
    return Draft(placement, tuple(uses), all(u.fits for u in uses), gpu_layers=w.layers, tensor_parallel_size=tp,
                 gpu_memory_utilization=chosen, notes=notes)


def tensor_parallel(job: Job, devices: tuple[Device, ...]) -> Draft:
    return _preallocating(job, devices, len(devices))


def _assign_layers(capacities: list[int], per_layer: int, layers: int) -> list[int]:
    out = []
    left = layers
    for cap in capacities:
        n = max(0, min(left, cap // per_layer if per_layer else left))
        out.append(n)
        left -= n
    return out


def _assign_phased(devices: tuple[Device, ...], w: M.WeightSplit, runtime: int, phased: PhaseParts,
                   kv_layer: int) -> list[int]:
    """Layers per GPU, in order, as many as both phases leave room for on each: the prefill (each layer with its
    share of the prompt's KV, beside the prefill's working memory) and the end of decode (with its share of the
    whole cache, beside the decode's)."""
    kv_prompt, prefill_w, decode_w = phased
    layers = w.layers
    kvp_layer = math.ceil(kv_prompt / layers) if layers else 0
    out, left = [], layers
    for i, d in enumerate(devices):
        room = d.budget - runtime - (w.outside if i == 0 else 0)
        fits = [(room - work) // (w.per_layer + kv_l) if w.per_layer + kv_l else left
                for work, kv_l in ((prefill_w, kvp_layer), (decode_w, kv_layer))]
        n = max(0, min(left, *fits))
        out.append(n)
        left -= n
    return out


def layer_split(job: Job, devices: tuple[Device, ...]) -> Draft:
    """Layers spread over several GPUs (transformers device_map, llama.cpp --split-mode layer)."""
    w, kv, act, runtime = _inference_parts(job, devices[0])
    layers = w.layers
    kv_layer = math.ceil(kv / layers) if layers else 0
    per_layer = w.per_layer + kv_layer
    phased = _phase_parts(job, devices[0])
    if phased is None:
        caps = [max(0, d.budget - act - runtime - (w.outside if i == 0 else 0)) for i, d in enumerate(devices)]
        counts = _assign_layers(caps, per_layer, layers)
    else:
        counts = _assign_phased(devices, w, runtime, phased, kv_layer)
    if sum(counts) < layers:  # spread what is left proportionally so the shortfall is visible
        counts[-1] += layers - sum(counts)
    uses = []
    for i, (d, n) in enumerate(zip(devices, counts, strict=True)):
        outside = w.outside if i == 0 else 0
        weights, kv_here = n * w.per_layer + outside, n * kv_layer
        if phased is None:
            uses.append(_use(d, _mem(weights, kv_here, act, runtime)))
            continue
        # each GPU's own phases: its layers' share of the prompt's KV with the prefill's working memory (every GPU
        # runs the prefill of its layers at the whole prompt), its share of the whole cache with the decode's
        kv_prompt_here = math.ceil(phased[0] * n / layers) if layers else 0
        prefill, decode = weights + kv_prompt_here + phased[1] + runtime, weights + kv_here + phased[2] + runtime
        mem = _mem(weights, kv_here, max(prefill, decode) - weights - kv_here - runtime, runtime)
        uses.append(_use(d, mem.model_copy(update={"prefill_bytes": prefill, "decode_bytes": decode})))
    return Draft("layer-split", tuple(uses), all(u.fits for u in uses), gpu_layers=layers,
                 notes=(f"layers per GPU: {', '.join(map(str, counts))}",))


def offload(job: Job, gpu: Device, cpu: Device) -> Draft:
    """Some layers on one GPU, the rest in CPU RAM (llama.cpp -ngl N; transformers device_map offload)."""
    spec = job.spec
    w, kv, act, runtime = _inference_parts(job, gpu)
    layers = w.layers
    kv_layer = math.ceil(kv / layers) if layers else 0
    if not job.eng.offload_keeps_kv_on_gpu:
        # llama.cpp keeps token_embd on the CPU; offloaded layers carry their KV with them.
        per_layer = w.per_layer + kv_layer
        n = max(0, min(layers - 1, (gpu.budget - act - runtime) // per_layer if per_layer else 0))
        gpu_mem = _mem(n * w.per_layer, n * kv_layer, act, runtime)
        cpu_mem = _mem((layers - n) * w.per_layer + w.outside, (layers - n) * kv_layer,
                       job.eng.cpu_activations(spec, job.context), job.eng.runtime(True))
    else:
        # accelerate's offload keeps the KV cache and activations on the GPU and streams CPU layers in.
        fixed = w.outside + kv + act + runtime + w.per_layer  # one streamed layer in flight
        n = max(0, min(layers - 1, (gpu.budget - fixed) // w.per_layer if w.per_layer else 0))
        gpu_mem = _mem(w.outside + (n + 1) * w.per_layer, kv, act, runtime)
        cpu_mem = _mem((layers - n) * w.per_layer, 0, 0, job.eng.runtime(True))
    if n < 1:
        return Draft("offload", (_use(gpu, gpu_mem), _use(cpu, cpu_mem)), False, gpu_layers=0,
                     problem=f"not even one layer fits on {gpu.label()} beside the cache and workspace")
    uses = (_use(gpu, gpu_mem), _use(cpu, cpu_mem))
    return Draft("offload", uses, all(u.fits for u in uses), gpu_layers=int(n),
                 notes=(f"{n} of {layers} layers on the GPU, the rest on the CPU: much slower than all on GPU",))


# --- training -------------------------------------------------------------------------------------------

def training(job: Job, devices: tuple[Device, ...]) -> Draft:
    """Full fine-tune (AdamW, mixed precision), LoRA or QLoRA on one GPU, or FSDP-sharded over several."""
    spec, req = job.spec, job.request
    tokens = job.context
    act = M.training_activations(spec, tokens, req.batch, req.gradient_checkpointing)
    runtime = job.eng.runtime(devices[0].kind == "cpu")
    n = len(devices)
    if req.mode == "finetune":
        weights = spec.params_total * M.ADAMW_BYTES_PER_PARAM // n
    else:
        base = M.weight_split(spec, job.precision).total
        adapters = M.lora_params(spec, req.lora_rank) * M.ADAPTER_BYTES_PER_PARAM
        weights = base // n + adapters
    memory = _mem(weights, 0, act, runtime)
    uses = tuple(_use(d, memory) for d in devices)
    placement: Placement = "fsdp" if n > 1 else ("cpu" if devices[0].kind == "cpu" else "single-gpu")
    notes = ("weights, gradients and optimizer states sharded over the GPUs (FSDP / ZeRO-3)",) if n > 1 else ()
    return Draft(placement, uses, all(u.fits for u in uses), notes=notes)
