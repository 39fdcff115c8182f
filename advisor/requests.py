"""Turn what people type (CLI options, API keywords) into a validated rules Request and a snapshot."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.errors import BadInputError
from advisor.units import parse_size
from probes.schema import Snapshot
from rules.plan import Request
from rules.precisions import lookup
from rules.select import validate

MODES = ("inference", "finetune", "lora", "qlora")
PLACEMENTS = ("auto", "single-gpu", "tensor-parallel", "layer-split", "offload", "cpu")


def parse_context(text: str | int | None, option: str = "--context") -> int | None:
    """ "8192", "8k", "128K", "1m" -> tokens."""
    if text is None or isinstance(text, int):
        return text
    cleaned = str(text).strip()
    # bounded and linear: strip first, then a pattern with no two adjacent repeats that could trade characters
    m = re.fullmatch(r"(-?\d{1,12}) ?([kKmM]?)", cleaned) if len(cleaned) <= 32 else None
    if not m:
        shown = cleaned if len(cleaned) <= 40 else cleaned[:40] + "..."
        raise BadInputError(f"{option}: not a number of tokens: {shown!r} (e.g. 8192 or 32k)")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]


def parse_duration(value: str | int | None, option: str = "--audio-length") -> int | None:
    """ "90", "90s", "10m", "1h30m" -> seconds."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    text = str(value).strip().lower()
    m = re.fullmatch(r"(?:(\d{1,4})h)?(?:(\d{1,6})m(?:in)?)?(?:(\d{1,8})s?)?", text) if len(text) <= 24 else None
    if not m or not any(m.groups()):
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise BadInputError(f"{option}: not a length of audio: {shown!r} (e.g. 90s, 10m or 1h30m)")
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    return h * 3600 + mi * 60 + s


def parse_image_size(value: str | int | tuple[int, int] | None,
                     option: str = "--image-size") -> tuple[int, int] | None:
    """ "640" -> (640, 640); "640x480" (width x height, as people write screen sizes) -> (480, 640) as (H, W)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    text = str(value).strip().lower()
    m = re.fullmatch(r"(\d{1,6})(?:\s*[x×*,]\s*(\d{1,6}))?", text) if len(text) <= 20 else None
    if not m:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise BadInputError(f"{option}: not an image size: {shown!r} (e.g. 640, or 1280x720 as width x height)")
    width = int(m.group(1))
    height = int(m.group(2)) if m.group(2) else width
    return (height, width)


def parse_headroom(text: str | None) -> int | float | None:
    """ "2GiB" -> bytes; "15%" -> a fraction; None -> the default rule."""
    if text is None:
        return None
    text = text.strip()
    if len(text) > 40:
        raise BadInputError(f"--headroom: not a size or a percentage: {text[:40]!r}... (e.g. 2GiB or 15%)")
    if text.endswith("%"):
        try:
            value = float(text[:-1])
        except ValueError:
            raise BadInputError(f"--headroom: not a percentage: {text!r}") from None
        if not 0 <= value < 100:
            raise BadInputError(f"--headroom: {text} is not between 0% and 100%")
        return value / 100
    return parse_size(text)


def parse_gpus(value: str | int | Iterable[int | str] | None) -> tuple[int, ...] | None:
    """ "0,1" (the CLI), 0 or [0, 1] (the Python API) -> NVML indices, each once, in the order given."""
    if value is None:
        return None
    shown = value if isinstance(value, str) else repr(value)
    if isinstance(value, bool):
        raise BadInputError(f"--gpus: expected NVML indices like 0,1 (got {shown})")
    if isinstance(value, int):
        items: list[str] = [str(value)]
    elif isinstance(value, str):
        if len(value) > 1000:
            raise BadInputError("--gpus: too long (expected NVML indices like 0,1)")
        items = [t.strip() for t in value.split(",") if t.strip() != ""]
    else:
        items = [str(v).strip() for v in value]
    if not items or not all(t.isdigit() and len(t) <= 6 for t in items):
        raise BadInputError(f"--gpus: expected NVML indices like 0,1 (got {shown})")
    return tuple(dict.fromkeys(int(t) for t in items))


@dataclass(frozen=True)
class Asked:
    """A request plus the parts of it the rules do not see (headroom as a fraction)."""

    request: Request
    headroom_fraction: float | None = None


def build_request(*, mode: str = "inference", context: str | int | None = None, prompt: str | int | None = None,
                  batch: int = 1, engine: str = "auto",
                  precision: str = "auto", kv_dtype: str = "auto", headroom: str | None = None,
                  gpus: str | int | Iterable[int | str] | None = None,
                  method: str = "detailed", gpu_memory_utilization: float | None = None, lora_rank: int = 16,
                  gradient_checkpointing: bool = True, allow_approximate: bool = False, extend_context: bool = False,
                  placement: str = "auto", image_size: str | int | tuple[int, int] | None = None,
                  beams: int | None = None, new_tokens: int | None = None, audio_length: str | int | None = None,
                  resolution: str | int | tuple[int, int] | None = None, steps: int | None = None,
                  images: int | None = None, **unknown: Any) -> Asked:
    """Validate every option; raise one BadInputError naming the first problem.

    Raises:
        BadInputError: unknown option, value out of range, or options that contradict each other.
    """
    if unknown:
        raise BadInputError(f"unknown option(s): {', '.join(sorted(unknown))}")
    if image_size is not None and resolution is not None:
        raise BadInputError("--image-size and --resolution name the same thing; give one")
    from rules import engines, runtimes

    engine = engines.canonical(engine)
    engine = engine if engine in engines.REGISTRY else runtimes.canonical(engine)
    engine = runtimes.SPEECH_ALIASES.get(engine, engine)
    if mode not in MODES:
        raise BadInputError(f"--mode: unknown mode {mode!r} (choose from {', '.join(MODES)})")
    placement = (placement or "auto").lower()
    if placement not in PLACEMENTS:
        raise BadInputError(f"--placement: unknown placement {placement!r} (choose from {', '.join(PLACEMENTS)})")
    if method not in ("detailed", "rule-of-thumb"):
        raise BadInputError(f"--method: unknown method {method!r} (choose from detailed, rule-of-thumb)")
    room = parse_headroom(headroom)
    request = Request(mode=mode, context=parse_context(context), prompt=parse_context(prompt, "--prompt"),
                      batch=batch, engine=engine, precision=precision,
                      kv_dtype=kv_dtype.lower(), headroom_bytes=room if isinstance(room, int) else None,
                      devices=parse_gpus(gpus), method=method, gpu_memory_utilization=gpu_memory_utilization,
                      lora_rank=lora_rank, gradient_checkpointing=gradient_checkpointing,
                      allow_approximate=bool(allow_approximate), extend_context=bool(extend_context),
                      placement=placement,
                      image_size=parse_image_size(image_size) if image_size is not None else parse_image_size(
                          resolution, "--resolution"), beams=beams,
                      steps=steps,
                      new_tokens=new_tokens, audio_seconds=parse_duration(audio_length), images=images)
    problems = validate(request)
    if problems:
        raise BadInputError(problems[0])
    rows = lookup(precision) if precision != "auto" else ()
    if engine in engines.REGISTRY and rows and not any(engine in engines.running(p) for p in rows):
        runs_on = sorted({e for p in rows for e in engines.running(p)})
        raise BadInputError(f"--precision {precision} does not run on {engine} (it runs on {', '.join(runs_on)})")
    if mode == "qlora" and precision not in ("auto", "nf4", "int4", "4bit"):
        raise BadInputError(f"--mode qlora quantizes the base to nf4; --precision {precision} contradicts it")
    if mode in ("finetune", "lora") and rows and not all(p.family == "float" for p in rows):
        raise BadInputError(f"--mode {mode} trains in bf16/fp16/fp32; use --mode qlora for a 4-bit base")
    return Asked(request, room if isinstance(room, float) else None)


def with_headroom_fraction(snapshot: Snapshot, asked: Asked) -> Request:
    """A fractional headroom becomes bytes of the largest device (the rules take bytes)."""
    if asked.headroom_fraction is None:
        return asked.request
    sizes = [g.memory_total_bytes or 0 for g in snapshot.gpus] + [snapshot.memory.total_bytes or 0]
    return asked.request.model_copy(update={"headroom_bytes": int(max(sizes) * asked.headroom_fraction)})


def hardware(*, hardware_file: str | Path | None = None, gpu: str | None = None, with_torch: bool = False,
             base: Snapshot | None = None, device: str | None = None) -> Snapshot:
    """The snapshot to decide on: `base`, a file, or this machine; optionally with what-if GPUs from the table.

    Raises:
        BadInputError: unreadable snapshot, or a GPU name not in the table.
    """
    from advisor.snapshots import load_snapshot
    from advisor.version import __version__

    if base is not None:
        snap = base
    elif hardware_file is not None:
        snap = load_snapshot(hardware_file)
    else:
        from probes.snapshot import take_snapshot

        snap = take_snapshot(__version__, with_torch=with_torch)
    if gpu:
        from rules.gpu_table import find_gpu, near_gpus, parse_gpu_spec, with_what_if_gpus

        if len(gpu) > 200:
            raise BadInputError("--gpu: too long (a GPU name from the table, e.g. \"RTX 4090\" or \"2x H100\")")
        name, count = parse_gpu_spec(gpu)
        entry = find_gpu(name)
        if entry is None:
            near = near_gpus(name)
            hint = f"; closest: {', '.join(near)}" if near else ""
            raise BadInputError(f"--gpu: {name!r} is not in the GPU table{hint}; advisor gpus lists the table")
        if not 1 <= count <= 64:
            raise BadInputError(f"--gpu: {count} GPUs is out of range (1-64)")
        snap = with_what_if_gpus(snap, entry, count)
    if device is not None:
        if not device.strip():
            raise BadInputError("--device: empty (a device name, e.g. \"Coral Edge TPU (USB)\"; advisor gpus --devices)")
        snap = _with_device(snap, device)
    return snap


def _with_device(snap: Snapshot, device: str) -> Snapshot:
    """--device: an edge or NPU target from rules/data/edge_devices.json on this (or the --hardware) machine."""
    from rules import edge_devices

    if len(device) > 200:
        raise BadInputError("--device: too long (a device name, e.g. \"Coral Edge TPU (USB)\"; advisor gpus --devices)")
    entry = edge_devices.find(device)
    if entry is None:
        close = edge_devices.near(device)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise BadInputError(f"--device: {device!r} is not in the device table{hint}; advisor gpus --devices lists it")
    if entry.get("gpu"):
        from rules.gpu_table import find_gpu, with_what_if_gpus

        gpu_entry = find_gpu(entry["gpu"])
        if gpu_entry is None:  # the two tables are kept together; a test holds them in step
            raise BadInputError(f"--device: {entry['name']} names GPU {entry['gpu']!r}, not in the GPU table")
        return with_what_if_gpus(snap, gpu_entry, 1)
    return edge_devices.with_device(snap, entry)
