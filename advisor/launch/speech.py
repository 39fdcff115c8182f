"""Settings to paste for speech plans (rules/workloads/speech.py), one function per runtime."""

from __future__ import annotations

from typing import Any

from advisor.launch.common import Context, model_ref
from rules.plan import Plan
from rules.spec import ModelSpec

TORCH_DTYPES = {"fp16": "torch.float16", "bf16": "torch.bfloat16", "fp32": "torch.float32"}
CT2_TYPES = {("gpu", "fp16"): "float16", ("gpu", "int8"): "int8_float16", ("cpu", "int8"): "int8",
             ("cpu", "fp32"): "float32"}


def transformers(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    device = "cuda:0" if plan.placement == "single-gpu" else "cpu"  # CUDA_VISIBLE_DEVICES selects the plan's GPU
    beams = plan_beams(plan)
    python = ("import torch\nfrom transformers import pipeline\n"
              f"asr = pipeline(\"automatic-speech-recognition\", model={model_ref(spec)!r}, "
              f"dtype={TORCH_DTYPES.get(plan.precision, 'torch.float32')}, device={device!r})\n"
              f"text = asr(\"audio.wav\", chunk_length_s=30, batch_size={plan.batch}"
              + (f", generate_kwargs={{\"num_beams\": {beams}}}" if beams > 1 else "") + ")[\"text\"]")
    return {"engine": "transformers", "python": python, "env": ctx.env}


def faster_whisper(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    kind = "gpu" if plan.placement == "single-gpu" else "cpu"
    size = spec.name.removeprefix("whisper-")
    python = ("from faster_whisper import BatchedInferencePipeline, WhisperModel\n"
              f"model = WhisperModel({size!r}, device={'cuda' if kind == 'gpu' else 'cpu'!r}, "
              f"compute_type={CT2_TYPES.get((kind, plan.precision), 'float32')!r})\n"
              f"segments, info = BatchedInferencePipeline(model=model).transcribe(\"audio.wav\", "
              f"batch_size={plan.batch}, beam_size={plan_beams(plan)})")
    return {"engine": "faster-whisper", "python": python, "env": ctx.env}


def plan_beams(plan: Plan) -> int:
    return plan.beams or 1


LAUNCHERS = {"transformers": transformers, "faster-whisper": faster_whisper}
