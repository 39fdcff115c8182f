"""The diffusion workload: text-to-image pipelines (diffusers) at a resolution and batch.

Memory = the resident components' weights + the larger of the two stages' working memory + the runtime:
  - the denoiser step: classifier-free guidance runs two latents per image, each holding the traced denoiser
    activations at this resolution (ModelSpec.diffusion.denoiser, a + b*P + c*P^2 elements, P = output pixels);
  - the VAE decode of the batch at once (diffusers decodes every image together), at the traced decode profile; a
    VAE with force_upcast (SDXL) decodes in fp32 and holds an fp32 copy of its weights;
Three layouts, from fastest: every component on the GPU; the same with VAE slicing and tiling (the decode runs image
by image, and tile by tile at the VAE's own sample size); model CPU offload (diffusers' enable_model_cpu_offload:
one component on the GPU at a time, the others in RAM), whose GPU peak is the largest component with its stage.
Steps change the time, not the memory. GPU figures: live x 1.5 + the CUDA context (estimated: no GPU measurement
yet); the CPU carries the vision workload's PyTorch constants (convolution nets, calibrated), labelled estimated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from probes.schema import Snapshot
from rules.kinds import model_summary, not_modelled
from rules.plan import Change, DeviceUse, Memory, Plan, Recommendation, Rejected, Request
from rules.runtimes import (
    CPU,
    CPU_ACTIVATION_BASE,
    CPU_ACTIVATION_FACTOR,
    CPU_HOLES_BASE,
    CPU_HOLES_FACTOR,
    CUDA_CONTEXT,
    GPU,
    GPU_ACTIVATION_FACTOR,
    MIB,
)
from rules.spec import DiffusionShape, ModelSpec
from rules.units import gib
from rules.workloads.vision import Target, _targets

BYTES = {"fp16": 2, "bf16": 2, "fp32": 4}
# the host process: Python + torch + diffusers imported and the UNet and VAE built, minus their weights
# (benchmarks/data/cpu-diffusion.json: 836.6 MiB in every run)
PROCESS, PROCESS_TYPICAL = 837 * MIB, 837 * MIB
QUALITY = {"fp16": (0, "fp16: diffusers' usual inference dtype"), "bf16": (0, "bf16: as fp16"),
           "fp32": (0, "fp32: full precision")}
DEFAULT_STEPS = 30
LAYOUTS = ("resident", "vae-tiling", "cpu-offload")


@dataclass(frozen=True)
class Stages:
    denoise: float  # bytes of live tensors for the batch's denoiser step
    decode: float  # bytes of live tensors for the batch's VAE decode
    vae_copy: int  # an fp32 copy of the VAE when it upcasts


def _poly(c: tuple[float, float, float], pixels: int) -> float:
    return c[0] + c[1] * pixels + c[2] * pixels * pixels


def resolution(shape: DiffusionShape, request: Request) -> tuple[int, int]:
    """(H, W), each rounded up to a multiple of 8 (the VAE's factor; diffusers checks divisibility by 8)."""
    h, w = request.image_size or (shape.default_resolution, shape.default_resolution)
    return math.ceil(h / 8) * 8, math.ceil(w / 8) * 8


def stages(shape: DiffusionShape, precision: str, h: int, w: int, batch: int, tiled: bool) -> Stages:
    b = BYTES[precision]
    vae_b = 4 if shape.vae_upcast else b
    denoise = 2 * batch * _poly(shape.denoiser, h * w) * b
    tile = shape.vae_tile * shape.vae_tile
    if tiled:
        # VAE slicing decodes one image at a time, tiling one tile of it at a time (its overlap is small); the
        # batch's decoded images are held in fp32
        one = _poly(shape.vae_decode, min(h * w, tile)) * vae_b
        decode = one + batch * 3 * h * w * 4
    else:
        decode = batch * _poly(shape.vae_decode, h * w) * vae_b
    vae_copy = shape.components.get("vae", 0) * 4 if shape.vae_upcast and b < 4 else 0
    return Stages(denoise, decode, vae_copy)


def gpu_memory(shape: DiffusionShape, precision: str, h: int, w: int, batch: int, layout: str) -> Memory:
    b = BYTES[precision]
    st = stages(shape, precision, h, w, batch, tiled=layout != "resident")
    comps = shape.components
    if layout == "cpu-offload":
        denoiser = comps.get("unet", comps.get("transformer", 0)) * b
        vae = comps.get("vae", 0) * b + st.vae_copy
        text = max((v for k, v in comps.items() if k.startswith("text_encoder")), default=0) * b
        # the peak: one component and its stage on the GPU
        options = [(denoiser, st.denoise), (vae, st.decode), (text, 0.0)]
        weights, live = max(options, key=lambda o: o[0] + o[1] * GPU_ACTIVATION_FACTOR)
    else:
        weights = sum(comps.values()) * b + st.vae_copy
        live = max(st.denoise, st.decode)
    acts = math.ceil(live * GPU_ACTIVATION_FACTOR)
    return Memory(weights_bytes=int(weights), kv_cache_bytes=0, activations_bytes=acts, runtime_bytes=CUDA_CONTEXT,
                  total_bytes=int(weights) + acts + CUDA_CONTEXT)


def cpu_memory(shape: DiffusionShape, precision: str, h: int, w: int, batch: int, offloaded: bool) -> Memory:
    """The host's RAM: every component (fp32 on a CPU plan; the offloaded ones for an offload plan) + the process,
    and on a CPU plan the stages' working memory."""
    b = BYTES[precision]
    weights = sum(shape.components.values()) * b
    if offloaded:
        return Memory(weights_bytes=weights, kv_cache_bytes=0, activations_bytes=0, runtime_bytes=PROCESS,
                      total_bytes=weights + PROCESS, typical_total_bytes=weights + PROCESS_TYPICAL)
    st = stages(shape, precision, h, w, batch, tiled=False)
    live = max(st.denoise, st.decode)
    typical = math.ceil(live * CPU_ACTIVATION_FACTOR) + CPU_ACTIVATION_BASE
    acts = typical + math.ceil(live * CPU_HOLES_FACTOR) + CPU_HOLES_BASE
    return Memory(weights_bytes=weights, kv_cache_bytes=0, activations_bytes=acts, runtime_bytes=PROCESS,
                  total_bytes=weights + acts + PROCESS, typical_total_bytes=weights + typical + PROCESS_TYPICAL)


def problems(spec: ModelSpec, request: Request) -> list[str]:
    out = []
    if request.context is not None or request.prompt is not None:
        out.append(f"--context / --prompt are token counts of LLMs; {spec.name} is an image-generation model (use "
                   "--resolution, --batch and --steps)")
    if request.beams is not None or request.new_tokens is not None or request.audio_seconds is not None:
        out.append(f"--beams, --new-tokens and --audio-length apply to speech models; {spec.name} generates images")
    if request.kv_dtype != "auto":
        out.append(f"--kv-dtype applies to token LLMs; {spec.name} is an image-generation model")
    if request.engine not in ("auto", "diffusers"):
        out.append(f"--engine {request.engine} does not run diffusion pipelines here (choose from auto, diffusers)")
    if request.precision not in ("auto", *BYTES):
        out.append(f"--precision {request.precision} is not a diffusion precision (choose from auto, "
                   f"{', '.join(BYTES)})")
    if request.placement not in ("auto", "single-gpu", "offload", "cpu"):
        out.append(f"--placement {request.placement}: a diffusion pipeline runs on one GPU (single-gpu, or offload: "
                   "diffusers' model CPU offload) or on the CPU")
    if request.steps is not None and not 1 <= request.steps <= 1000:
        out.append(f"--steps must be between 1 and 1000 (got {request.steps})")
    if request.image_size and not all(64 <= v <= 8192 for v in request.image_size):
        out.append(f"--resolution sides must be between 64 and 8192 pixels (got {request.image_size})")
    return out


def decide(spec: ModelSpec, snapshot: Snapshot, request: Request, siblings: object = None) -> Recommendation:
    model = model_summary(spec)
    shape = spec.diffusion
    if shape is None:
        return not_modelled(spec, request, model)
    h, w = resolution(shape, request)
    asked = request.model_copy(update={"image_size": (h, w)})
    targets, unreadable = _targets(snapshot, request)
    cpu = next((t for t in targets if t.kind == CPU), None)
    plans: list[Plan] = []
    rejected: list[Rejected] = []
    for target in (t for t in targets if t.kind in (GPU, CPU)):
        for precision in ([request.precision] if request.precision != "auto" else list(BYTES)):
            if target.kind == GPU and precision == "bf16" and not target.memory.native_bf16:
                if request.precision != "auto":
                    rejected.append(Rejected(precision=precision, engine="diffusers", placement=target.key,
                                             reason=f"bf16 needs compute capability ≥ 8.0 ({target.label})"))
                continue
            if target.kind == CPU and precision != "fp32":
                continue  # fp16 convolutions on CPUs are emulated or missing; diffusers on the CPU runs fp32
            for layout in (LAYOUTS if target.kind == GPU else ("cpu",)):
                if not _asked(layout, request):
                    continue
                plans.append(_plan(spec, shape, target, cpu, precision, layout, h, w, request))
    fitting = sorted((p for p in plans if p.fits), key=lambda p: (p.speed_rank, p.quality_rank))
    for p in plans:
        if not p.fits:
            worst = max(p.per_device, key=lambda u: u.memory.total_bytes - (u.budget_bytes or 0))
            rejected.append(Rejected(precision=p.precision, engine="diffusers", placement=p.placement, reason=(
                f"{p.precision} / diffusers ({_layout_text(p)}): needs {gib(worst.memory.total_bytes)} on "
                f"{worst.name} for batch {request.batch} at {w}x{h}, {gib(worst.budget_bytes)} usable")))
    best: list[Plan] = []
    seen: set[tuple[str, str, bool | None]] = set()
    for p in fitting:
        if (p.precision, p.placement, p.vae_tiling) not in seen:
            seen.add((p.precision, p.placement, p.vae_tiling))
            best.append(p)
    changes = [] if best else _changes(spec, shape, targets, cpu, h, w, request)
    cannot = "; ".join(unreadable) if unreadable and not best else None
    missing = None
    if not best and plans:
        missing = min(max(u.memory.total_bytes - (u.budget_bytes or 0) for u in p.per_device) for p in plans)
    notes = [f"{request.steps or DEFAULT_STEPS} steps: the time, not the memory; the denoiser's working memory traced "
             "from its definition (benchmarks/trace_diffusion.py), GPU and CPU factors estimated (no diffusion "
             "measurement yet)"]
    return Recommendation(model=model, request=asked, fits=bool(best) and cannot is None,
                          plan=best[0] if best else None, alternatives=best[1:5], rejected=rejected,
                          missing_bytes=missing, changes=changes, cannot_tell=cannot, notes=notes)


def _asked(layout: str, request: Request) -> bool:
    if request.placement == "auto":
        return True
    return {"single-gpu": ("resident", "vae-tiling"), "offload": ("cpu-offload",), "cpu": ("cpu",)}[
        request.placement].__contains__(layout)


def _layout_text(p: Plan) -> str:
    if p.placement == "offload":
        return "model CPU offload, VAE slicing and tiling"
    if p.placement == "cpu":
        return "CPU"
    return "all on the GPU" + (", VAE slicing and tiling" if p.vae_tiling else "")


def _plan(spec: ModelSpec, shape: DiffusionShape, target: Target, cpu: Target | None, precision: str, layout: str,
          h: int, w: int, request: Request) -> Plan:
    uses: list[DeviceUse] = []
    if target.kind == GPU:
        mem = gpu_memory(shape, precision, h, w, request.batch, layout)
        dev = target.memory
        uses.append(DeviceUse(device=target.key, name=target.label, kind="gpu", index=dev.index, memory=mem,
                              free_bytes=dev.free, budget_bytes=dev.budget, fits=mem.total_bytes <= dev.budget))
        if layout == "cpu-offload":
            host = cpu_memory(shape, precision, h, w, request.batch, offloaded=True)
            if cpu is None:
                uses.append(DeviceUse(device="cpu", name="CPU RAM", kind="cpu", memory=host, free_bytes=None,
                                      budget_bytes=0, fits=False))
            else:
                c = cpu.memory
                uses.append(DeviceUse(device="cpu", name="CPU RAM", kind="cpu", memory=host, free_bytes=c.free,
                                      budget_bytes=c.budget, fits=host.total_bytes <= c.budget))
    else:
        mem = cpu_memory(shape, precision, h, w, request.batch, offloaded=False)
        c = target.memory
        uses.append(DeviceUse(device="cpu", name="CPU RAM", kind="cpu", memory=mem, free_bytes=c.free,
                              budget_bytes=c.budget, fits=mem.total_bytes <= c.budget))
    fits = all(u.fits for u in uses)
    gpu_use = uses[0]
    placement = {"resident": "single-gpu", "vae-tiling": "single-gpu", "cpu-offload": "offload"}.get(layout, "cpu")
    speed = {"resident": 0, "vae-tiling": 1, "cpu-offload": 5, "cpu": 9}[layout]
    dev = target.memory
    total = sum(u.memory.total_bytes for u in uses)
    return Plan(model=spec.name, precision=precision, engine="diffusers", placement=placement,
                devices=[u.device for u in uses],
                gpu_indices=[dev.index] if target.kind == GPU and dev.index is not None else [],
                cuda_visible_devices=(dev.mig_uuid or str(dev.index)) if target.kind == GPU and dev.index is not None
                and not dev.apple else None,
                cuda_device_order="PCI_BUS_ID" if target.kind == GPU and not dev.apple else None,
                mode=request.mode, workload="diffusion", context=None, image_size=(h, w), batch=request.batch,
                kv_dtype="n/a", memory=gpu_use.memory if len(uses) == 1 else Memory(
                    weights_bytes=sum(u.memory.weights_bytes for u in uses), kv_cache_bytes=0,
                    activations_bytes=gpu_use.memory.activations_bytes,
                    runtime_bytes=sum(u.memory.runtime_bytes for u in uses), total_bytes=total),
                per_device=uses, fits=fits, quality_rank=QUALITY[precision][0], speed_rank=speed * 10 + (
                    0 if precision in ("fp16", "bf16") else 1),
                speed_class={"single-gpu": "all-gpu", "offload": "offload", "cpu": "cpu"}[placement],
                headroom_fraction=min((1 - u.memory.total_bytes / u.budget_bytes) if u.budget_bytes else 0.0
                                      for u in uses),
                quality=QUALITY[precision][1], method="detailed", estimated=True, steps=request.steps or DEFAULT_STEPS,
                vae_tiling=layout != "resident" and layout != "cpu",
                torch_dtype={"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}[precision],
                max_batch=_max_batch(shape, target, cpu, precision, layout, h, w, request))


def _max_batch(shape: DiffusionShape, target: Target, cpu: Target | None, precision: str, layout: str, h: int,
               w: int, request: Request) -> int:
    def fits(batch: int) -> bool:
        if target.kind == CPU:
            return cpu_memory(shape, precision, h, w, batch, False).total_bytes <= target.memory.budget
        return gpu_memory(shape, precision, h, w, batch, layout).total_bytes <= target.memory.budget

    if not fits(1):
        return 0
    lo, hi = 1, 2
    while hi <= 4096 and fits(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def _changes(spec: ModelSpec, shape: DiffusionShape, targets: list[Target], cpu: Target | None, h: int, w: int,
             request: Request) -> list[Change]:
    out: list[Change] = []
    gpus = [t for t in targets if t.kind == GPU]
    for target in gpus[:1]:
        for layout in LAYOUTS:
            most = _max_batch(shape, target, cpu, "fp16", layout, h, w, request)
            if most:
                how = {"resident": "", "vae-tiling": " with VAE slicing and tiling",
                       "cpu-offload": " with model CPU offload (pipe.enable_model_cpu_offload())"}[layout]
                out.append(Change(kind="batch", description=f"--batch {most} at {w}x{h}{how} on {target.label}"))
                break
        for side in (1536, 1024, 768, 640, 512, 384, 256):
            if side >= max(h, w):
                continue
            if gpu_memory(shape, "fp16", side, side, request.batch, "vae-tiling").total_bytes <= target.memory.budget:
                out.append(Change(kind="image-size", description=f"--resolution {side} at batch {request.batch} with "
                                  f"VAE slicing and tiling on {target.label}"))
                break
    return out
