"""The vision workload: classification, detection, segmentation and keypoint models at an image size and batch.

Memory per device = weights at the precision + working memory + the runtime's own. The working memory is the
model's traced live activations per image (ModelSpec.vision: a + b*P + c*P^2 elements at P = H*W pixels, from
its own definition) x batch x the activation dtype's bytes x the runtime's factor over live tensors (scratch,
allocator); CPU constants are calibrated on benchmarks/data/cpu-vision.json. Targets are the GPUs, the CPU and
the accelerators the snapshot lists (a Coral Edge TPU, an Intel NPU, the Apple Neural Engine, a Hailo module):
an accelerator's model is loaded by a host process, so the host RAM is what it must fit in, and the
accelerator's own gates (int8 only, supported operators, on-chip memory) are the runtime's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from probes.schema import Snapshot
from rules.devices import Device, usable_devices
from rules.kinds import model_summary, not_modelled, shortfall_rejection
from rules.plan import Change, DeviceUse, Memory, Plan, Recommendation, Rejected, Request
from rules.runtimes import (
    CPU,
    CPU_ACTIVATION_BASE,
    CPU_ACTIVATION_FACTOR,
    CPU_HOLES_BASE,
    CPU_HOLES_FACTOR,
    CPU_PROCESS,
    CPU_PROCESS_TYPICAL,
    CUDA_CONTEXT,
    GPU,
    GPU_ACTIVATION_FACTOR,
    RUNTIMES,
    Runtime,
)
from rules.spec import ModelSpec, VisionShape
from rules.units import gib

MAX_BATCH = 65536
MAX_SIDE = 16384
# Precisions of vision runtimes: (bytes per weight, bytes per activation element, quality rank, what it means)
PRECISIONS: dict[str, tuple[int, int, int, str]] = {
    "fp16": (2, 2, 0, "fp16: the accuracy of fp32 for inference in practice"),
    "bf16": (2, 2, 0, "bf16: the accuracy of fp32 for inference in practice"),
    "fp32": (4, 4, 0, "fp32: full precision"),
    "int8": (1, 1, 1, "int8 (full-integer, quantized with calibration images): usually close to fp32 for CNNs; "
                      "check on your own data"),
}
EDGE_TPU_SRAM = 8 * 1024**2  # coral.ai/docs/edgetpu/compiler: "the Edge TPU has roughly 8 MB of SRAM" for caching
# Families whose attention, LayerNorm and GELU the Edge TPU compiler does not map (they run on the host CPU):
# coral.ai/docs/edgetpu/models-intro#supported-operations lists the operations it maps.
TRANSFORMER_FAMILIES = ("ViT", "Swin", "Swin V2", "MaxViT")
SEQUENTIAL = ("edge-tpu",)  # targets that run one image per invocation (Edge TPU models are compiled for batch 1)
ACCELERATOR_NAMES = {"edge-tpu": "Coral Edge TPU", "intel-npu": "Intel NPU", "apple-neural-engine":
                     "Apple Neural Engine", "hailo": "Hailo", "qualcomm-npu": "Qualcomm Hexagon NPU"}


@dataclass(frozen=True)
class Target:
    key: str  # gpu:0, cpu, edge-tpu...
    kind: str  # GPU, CPU or an accelerator kind
    label: str
    memory: Device  # the device whose memory holds the model (an accelerator's host: the CPU)
    nvidia: bool = False


def problems(spec: ModelSpec, request: Request) -> list[str]:
    """Options that do not apply to a vision model, one line each."""
    out = []
    if request.steps is not None:
        out.append(f"--steps applies to diffusion models; {spec.name} is not one")
    if request.context is not None or request.prompt is not None:
        out.append(f"--context / --prompt are token counts; {spec.name} is a vision model (use --image-size and "
                   "--batch)")
    if request.kv_dtype != "auto":
        out.append(f"--kv-dtype applies to token LLMs; {spec.name} is a vision model")
    if request.beams is not None or request.audio_seconds is not None or request.new_tokens is not None:
        out.append(f"--beams, --new-tokens and --audio-length apply to speech models; {spec.name} is a vision model")
    if request.engine != "auto" and request.engine not in RUNTIMES:
        out.append(f"--engine {request.engine} does not run vision models (choose from auto, {', '.join(RUNTIMES)})")
    if request.precision not in ("auto", *PRECISIONS):
        out.append(f"--precision {request.precision} is not a vision precision (choose from auto, "
                   f"{', '.join(PRECISIONS)})")
    if request.placement not in ("auto", "single-gpu", "cpu"):
        out.append(f"--placement {request.placement}: a vision model runs on one device (single-gpu or cpu)")
    shape = spec.vision
    if shape and request.image_size and shape.fixed_image_size and (
            request.image_size != (shape.fixed_image_size, shape.fixed_image_size)):
        h, w = request.image_size
        out.append(f"--image-size {h}x{w}: {spec.name} takes {shape.fixed_image_size}x{shape.fixed_image_size} only "
                   "(its position embeddings are built for that size; torchvision checks the input)")
    return out


def image_size(shape: VisionShape, request: Request) -> tuple[int, int]:
    """The (H, W) the forward sees: asked or default, each side rounded up to the stride (as ultralytics'
    check_imgsz does; torchvision's CNNs pad nothing, the traced fit covers any size)."""
    h, w = request.image_size or (shape.default_image_size, shape.default_image_size)
    if shape.library == "ultralytics":
        h, w = (math.ceil(v / shape.stride) * shape.stride for v in (h, w))
    return h, w


def per_image_elements(shape: VisionShape, h: int, w: int) -> float:
    a, b, c = shape.elements
    p = h * w
    return a + b * p + c * p * p


def _targets(snapshot: Snapshot, request: Request) -> tuple[list[Target], list[str]]:
    devs = usable_devices(snapshot, request)
    targets: list[Target] = []
    if request.placement in ("auto", "single-gpu"):
        for g in devs.gpus:
            nvidia = bool(g.gpu and (g.gpu.compute_capability or "")) and not g.apple
            targets.append(Target(g.key, GPU, g.name, g, nvidia))
    cpu = devs.cpu
    if cpu is not None and devs.cpu_only_allowed and request.placement in ("auto", "cpu"):
        targets.append(Target("cpu", CPU, "CPU RAM", cpu))
        if request.placement == "auto":
            for acc in snapshot.accelerators.devices:
                kind = str(acc.kind)
                if kind in ACCELERATOR_NAMES:
                    targets.append(Target(kind, kind, acc.name, cpu))
    unreadable = list(devs.unreadable) + ([devs.nvml_problem] if devs.nvml_problem else [])
    return targets, unreadable


def _memory(spec: ModelSpec, runtime: Runtime, target: Target, precision: str, h: int, w: int,
            batch: int) -> Memory:
    weight_bytes, act_bytes, _q, _t = PRECISIONS[precision]
    if precision == "int8" and target.kind == CPU:
        # int8 models on CPU runtimes still carry float tensors between quantized operators (QuantizeLinear /
        # DequantizeLinear around the ops without an int8 kernel): the working memory is priced as fp32
        act_bytes = 4
    assert spec.vision is not None
    live = per_image_elements(spec.vision, h, w) * act_bytes
    weights = spec.params_total * weight_bytes
    if target.kind in SEQUENTIAL:
        # one image per invocation: the host holds the batch's int8 inputs and one image's tensors
        live += (batch - 1) * 3 * h * w / batch
        batch = 1
    if target.kind == GPU:
        acts = math.ceil(batch * live * GPU_ACTIVATION_FACTOR)
        runtime_bytes = CUDA_CONTEXT
    else:  # the host process (the CPU, or an accelerator's host): typical and worst, as token LLMs on the CPU
        lib = spec.vision.library
        typical_acts = math.ceil(batch * live * CPU_ACTIVATION_FACTOR) + CPU_ACTIVATION_BASE
        acts = typical_acts + math.ceil(batch * live * CPU_HOLES_FACTOR) + CPU_HOLES_BASE
        runtime_bytes = CPU_PROCESS[lib]
        return Memory(weights_bytes=weights, kv_cache_bytes=0, activations_bytes=acts, runtime_bytes=runtime_bytes,
                      total_bytes=weights + acts + runtime_bytes,
                      typical_total_bytes=weights + typical_acts + CPU_PROCESS_TYPICAL[lib])
    return Memory(weights_bytes=weights, kv_cache_bytes=0, activations_bytes=acts, runtime_bytes=runtime_bytes,
                  total_bytes=weights + acts + runtime_bytes)


def max_batch(spec: ModelSpec, runtime: Runtime, target: Target, precision: str, h: int, w: int) -> int:
    """The largest batch whose total fits the target's budget (0 when not even one image does)."""
    one = _memory(spec, runtime, target, precision, h, w, 1)
    two = _memory(spec, runtime, target, precision, h, w, 2)
    per = max(1, two.total_bytes - one.total_bytes)
    room = target.memory.budget - one.total_bytes
    if target.kind in SEQUENTIAL:
        return 0 if room < 0 else 1
    return 0 if room < 0 else min(MAX_BATCH, 1 + room // per)


def _gate(spec: ModelSpec, runtime: Runtime, target: Target, precision: str) -> str | None:
    """Why this runtime cannot run this model in this precision on this target, or None."""
    assert spec.vision is not None
    if not runtime.runs_on(target.kind):
        return f"{runtime.label} does not run on {target.label}"
    if spec.vision.library not in runtime.libraries:
        return f"{runtime.label} runs {', '.join(runtime.libraries)} models, not {spec.vision.library}'s"
    if runtime.nvidia_only and target.kind == GPU and not target.nvidia:
        return f"{runtime.label} needs an NVIDIA GPU ({target.label})"
    if precision not in runtime.precisions_on(target.kind):
        return f"{runtime.label} on {target.label} runs {', '.join(runtime.precisions_on(target.kind))}, not {precision}"
    if target.kind == GPU and precision == "fp16" and runtime.half_needs_cuda and not target.nvidia:
        return f"{runtime.label}'s half=True needs a CUDA GPU ({target.label} would run fp32)"
    if target.kind == GPU and precision == "bf16" and not target.memory.native_bf16:
        return f"bf16 needs compute capability ≥ 8.0 ({target.label})"
    if target.kind == "edge-tpu" and (spec.family or "") in TRANSFORMER_FAMILIES:
        return (f"the Edge TPU compiler does not map {spec.family}'s attention, LayerNorm and GELU: they would run "
                "on the host CPU (coral.ai/docs/edgetpu/models-intro)")
    return None


def _notes(spec: ModelSpec, runtime: Runtime, target: Target, precision: str, h: int, w: int) -> list[str]:
    assert spec.vision is not None
    notes = []
    weights = spec.params_total * PRECISIONS[precision][0]
    if target.kind == "edge-tpu":
        if weights > EDGE_TPU_SRAM:
            notes.append(f"the int8 weights ({weights / 1024**2:.1f} MiB) exceed the Edge TPU's ~8 MiB of on-chip "
                         "memory: the rest streams from the host on every inference, which is slower "
                         "(coral.ai/docs/edgetpu/compiler)")
        notes.append("the Edge TPU runs one image at a time: a batch is run image by image")
    if h * w > spec.vision.traced_max_pixels:
        notes.append(f"{h}x{w} is beyond the largest traced size: the working memory is extrapolated from the trace")
    if runtime.export:
        notes.append(f"export first: {runtime.export}")
    if precision == "int8":
        notes.append("int8 needs a calibration set (a few hundred representative images) when exporting")
    return notes


def decide(spec: ModelSpec, snapshot: Snapshot, request: Request,
           siblings: Callable[[ModelSpec], Sequence[ModelSpec]] | None = None) -> Recommendation:
    model = model_summary(spec)
    shape = spec.vision
    if shape is None:
        return not_modelled(spec, request, model)
    h, w = image_size(shape, request)
    asked = request.model_copy(update={"image_size": (h, w)})
    targets, unreadable = _targets(snapshot, request)
    # every runtime is a candidate: the model's own library ranks first, exports (ONNX Runtime, OpenVINO, TensorRT,
    # LiteRT...) are the runners-up, and the only way onto an accelerator
    names = [request.engine] if request.engine != "auto" else list(RUNTIMES)
    precisions = [request.precision] if request.precision != "auto" else list(PRECISIONS)
    plans: list[Plan] = []
    rejected: list[Rejected] = []
    for target in targets:
        for name in names:
            runtime = RUNTIMES[name]
            if not runtime.runs_on(target.kind) or spec.vision is None:
                continue
            if target.kind not in (GPU, CPU) and not runtime.runs_on(target.kind):
                continue
            for precision in precisions:
                why = _gate(spec, runtime, target, precision)
                if why:
                    # with --engine / --precision auto, a runtime's other precisions and other libraries' runtimes
                    # are not news; a gate that shuts this model out of a device is (once)
                    mismatch = precision not in runtime.precisions_on(target.kind)
                    wrong_library = spec.vision.library not in runtime.libraries
                    news = (request.engine != "auto" or (request.precision != "auto" and mismatch)
                            or not (mismatch or wrong_library))
                    if news and all(r.reason != why for r in rejected):
                        rejected.append(Rejected(precision=precision, engine=name, placement=target.key, reason=why))
                    continue
                plans.append(_plan(spec, runtime, target, precision, h, w, request))
    fitting = sorted((p for p in plans if p.fits), key=_rank)
    rejected += [shortfall_rejection(p, f"batch {request.batch} at {h}x{w}") for p in plans if not p.fits]
    best = _distinct(fitting)
    notes = [f"working memory traced from the model's definition ({shape.source.split(':')[0]}), runtime factors "
             "calibrated on PyTorch CPU measurements; GPU and other runtimes' figures are estimated"]
    cannot = None
    if unreadable and not best:
        cannot = "; ".join(unreadable)
    if not spec.exact and not request.allow_approximate:
        cannot = f"{spec.name}'s parameter count is approximate"
    changes = [] if best else _changes(spec, plans, h, w, request)
    smaller: list[str] = []
    if not best and siblings is not None:
        for other in sorted(siblings(spec), key=lambda s: -s.params_total):  # the largest that fits first
            if other.params_total >= spec.params_total or other.vision is None or other.name == spec.name:
                continue
            if problems(other, request):
                continue
            found = decide(other, snapshot, request)
            if found.fits and found.plan is not None:
                smaller.append(other.name)
                if len(smaller) == 1:
                    changes.append(Change(kind="smaller-model", description=(
                        f"{other.name} ({other.params_total / 1e6:.1f} M parameters), a smaller {spec.family}: "
                        f"{found.plan.precision} / {found.plan.engine} on {found.plan.per_device[0].name} needs "
                        f"{gib(found.plan.memory.total_bytes)}"), plan=found.plan))
    missing = None
    if not best and plans:
        missing = min(p.per_device[0].memory.total_bytes - (p.per_device[0].budget_bytes or 0) for p in plans)
    if not targets:
        rejected.append(Rejected(precision="any", engine="any", reason="no device here to run on (no GPU readable, "
                                 "and the CPU is excluded)"))
    return Recommendation(model=model, request=asked, fits=bool(best) and cannot is None,
                          plan=best[0] if best else None, alternatives=best[1:5], rejected=rejected,
                          missing_bytes=missing, changes=changes, smaller_models=smaller, cannot_tell=cannot,
                          notes=notes)


def _plan(spec: ModelSpec, runtime: Runtime, target: Target, precision: str, h: int, w: int,
          request: Request) -> Plan:
    mem = _memory(spec, runtime, target, precision, h, w, request.batch)
    dev = target.memory
    fits = mem.total_bytes <= dev.budget
    kind = "gpu" if target.kind == GPU else ("cpu" if target.kind == CPU else "accelerator")
    use = DeviceUse(device=target.key, name=target.label, kind=kind, index=dev.index, memory=mem,
                    free_bytes=dev.free, budget_bytes=dev.budget, fits=fits)
    quality_rank = PRECISIONS[precision][2]
    speed = {GPU: 0, CPU: 2}.get(target.kind, 1)
    # on a GPU half precision is the fast path; on a CPU fp32 (fp16 is emulated on most CPUs)
    prefer = ({GPU: ("fp16", "bf16", "fp32", "int8")}.get(target.kind) or ("fp32", "int8", "bf16", "fp16"))
    return Plan(model=spec.name, precision=precision, engine=runtime.name,
                placement="single-gpu" if kind == "gpu" else ("cpu" if kind == "cpu" else "accelerator"),
                devices=[target.key], gpu_indices=[dev.index] if kind == "gpu" and dev.index is not None else [],
                cuda_visible_devices=(dev.mig_uuid or str(dev.index)) if kind == "gpu" and dev.index is not None
                and not dev.apple else None,
                cuda_device_order="PCI_BUS_ID" if kind == "gpu" and not dev.apple else None,
                mode=request.mode, workload="vision", context=None, image_size=(h, w), batch=request.batch,
                kv_dtype="n/a", memory=mem, per_device=[use], fits=fits,
                max_batch=max_batch(spec, runtime, target, precision, h, w),
                quality_rank=quality_rank, speed_rank=speed * 10 + prefer.index(precision),
                speed_class="all-gpu" if kind == "gpu" else ("cpu" if kind == "cpu" else "accelerator"),
                headroom_fraction=max(0.0, 1 - mem.total_bytes / dev.budget) if dev.budget else 0.0,
                quality=PRECISIONS[precision][3], method="detailed", estimated=True,
                notes=_notes(spec, runtime, target, precision, h, w))


def _rank(p: Plan) -> tuple[int, int, int]:
    return (p.speed_rank // 10, p.quality_rank * 10 + p.speed_rank % 10, RUNTIMES[p.engine].rank)


def _distinct(plans: list[Plan]) -> list[Plan]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for p in plans:
        key = (p.precision, p.engine, p.speed_class)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _changes(spec: ModelSpec, plans: list[Plan], h: int, w: int, request: Request) -> list[Change]:
    """What would make it fit: a smaller batch at this size, a smaller image at this batch, int8."""
    out: list[Change] = []
    if not plans:
        return out
    by_batch = max(plans, key=lambda p: (p.max_batch or 0, -p.speed_rank))
    if by_batch.max_batch:
        out.append(Change(kind="batch", description=(
            f"--batch {by_batch.max_batch} at {h}x{w}: {by_batch.precision} / {by_batch.engine} on "
            f"{by_batch.per_device[0].name}")))
    assert spec.vision is not None
    if not spec.vision.fixed_image_size:
        for side in (1280, 1024, 960, 800, 640, 512, 480, 416, 384, 320, 256, 224, 160, 128):
            if side >= max(h, w):
                continue
            smaller = request.model_copy(update={"image_size": (side, side)})
            for p in sorted(plans, key=_rank):
                runtime, target = RUNTIMES[p.engine], p.per_device[0]
                mem = _memory(spec, runtime, _target_of(p), p.precision, side, side, request.batch)
                if mem.total_bytes <= (target.budget_bytes or 0):
                    out.append(Change(kind="image-size", description=(
                        f"--image-size {side} at batch {smaller.batch}: {p.precision} / {p.engine} on {target.name} "
                        f"needs {gib(mem.total_bytes)}")))
                    return out
    return out


def _targets_for_cpu(budget: int = 1 << 62) -> Target:
    """A CPU target of any size (benchmarks/calibration_vision.py prices rows with it)."""
    return Target("cpu", CPU, "CPU RAM", Device("cpu", "CPU", "cpu", None, budget, budget, budget))


def _target_of(p: Plan) -> Target:
    use = p.per_device[0]
    kind = GPU if use.kind == "gpu" else (CPU if use.kind == "cpu" else use.device)
    dev = Device(use.device, use.name, "gpu" if use.kind == "gpu" else "cpu", use.index, use.free_bytes or 0,
                 use.free_bytes or 0, use.budget_bytes or 0)
    return Target(use.device, kind, use.name, dev)
