"""The speech workload: Whisper-style encoder-decoders, by 30 s windows, batch, beams and new tokens.

Whisper hears audio in 30 s windows (3,000 log-mel frames; the encoder's stride-2 conv makes 1,500 positions), so
memory follows the windows decoded at once, not the audio's length: long audio runs window after window, and
`--batch` windows at once. Per window, the forward's live tensors are, in elements of the model's dtype:
  encoder: the features (mel bins x 3,000), then per layer the residual, its norm, q, k, v and the attention output
           (6 x d x 1,500) and the MLP's two intermediates (2 x FFN x 1,500) — the larger of the conv stage
           (features + 2 x d x 3,000) and the layer stage;
  decoding, per beam: the encoder's output (d x 1,500, repeated for each beam by generate), the cross-attention
           K and V of every decoder layer over the 1,500 positions, the self-attention KV of the tokens so far,
           and the last position's logits (fp32).
The workload takes the larger of the two stages. CPU constants are calibrated on benchmarks/data/cpu-speech.json
(benchmarks/calibration_speech.py) as a range, as for token LLMs; GPU figures are the live tensors x the
allocator factor + the CUDA context (estimated: no GPU measurement of Whisper yet).
"""

from __future__ import annotations

import math

from probes.schema import Snapshot
from rules.plan import Memory, Recommendation, Request
from rules.runtimes import GPU, MIB, SPEECH_RUNTIMES, KindRuntime
from rules.runtimes import SPEECH_ALIASES as ALIASES
from rules.spec import ModelSpec, SpeechShape
from rules.workloads import onedevice

WINDOW_SECONDS = 30
FRAMES = 3000  # log-mel frames per window (10 ms hop)
MAX_BEAMS = 16
# CPU range over the live elements (benchmarks/calibration_speech.py on benchmarks/data/cpu-speech.json)
CPU_FACTOR = 1.632
CPU_BASE = 32 * MIB
CPU_HOLES_FACTOR = 0.18
CPU_HOLES_BASE = 71 * MIB
CPU_PROCESS_TYPICAL = 782 * MIB  # Python + torch + transformers imported and a Whisper built, minus its weights
CPU_PROCESS = 783 * MIB


BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}
QUALITY = {"fp32": (0, "fp32: full precision"), "fp16": (0, "fp16: Whisper's own inference dtype on GPUs"),
           "bf16": (0, "bf16: as fp16 for inference"),
           "int8": (1, "int8 weights (CTranslate2): close to fp16's word error rate in faster-whisper's benchmarks")}


def windows(request: Request) -> int:
    return max(1, request.batch)


def beams(request: Request) -> int:
    return request.beams or 1


def new_tokens(spec: ModelSpec, request: Request) -> int:
    """Tokens decoded per window: asked, or the most the model decodes (its positions less the 4-token prompt)."""
    s = spec.speech
    return request.new_tokens or ((s.max_target_positions - 4) if s else 1)


def live_elements(s: SpeechShape, beams: int, new_tokens: int) -> tuple[float, float, float]:
    """(encoder stage, decoding stage without logits, logits in fp32 elements) per window."""
    positions, d = s.max_source_positions, s.d_model
    conv = s.num_mel_bins * FRAMES + 2 * d * FRAMES
    layer = positions * (6 * d + 2 * s.encoder_ffn_dim)
    encoder = max(conv, layer)
    tokens = min(s.max_target_positions, 4 + new_tokens)  # the start / language / task prompt + the new tokens
    decode = beams * (positions * d + 2 * s.decoder_layers * positions * d + 2 * s.decoder_layers * d * tokens)
    return encoder, decode, beams * s.vocab_size


def live_bytes(spec: ModelSpec, request: Request, act_bytes: int) -> float:
    """The live tensors at the forward's peak, all windows of the batch: the larger stage, logits in fp32."""
    assert spec.speech is not None
    encoder, decode, logits = live_elements(spec.speech, beams(request), new_tokens(spec, request))
    return windows(request) * (max(encoder, decode) * act_bytes + logits * 4)


def memory(spec: ModelSpec, runtime: KindRuntime, target_kind: str, precision: str, request: Request) -> Memory:
    s = spec.speech
    assert s is not None
    b = BYTES[precision]
    act_bytes = 2 if precision == "int8" and target_kind == GPU else (4 if precision == "int8" else b)
    process = runtime.process_bytes or (CPU_PROCESS_TYPICAL, CPU_PROCESS)
    cpu = onedevice.CpuRange(CPU_FACTOR, CPU_BASE, CPU_HOLES_FACTOR, CPU_HOLES_BASE, *process)
    return onedevice.range_memory(spec.params_total * b, live_bytes(spec, request, act_bytes), target_kind, cpu)


def problems(spec: ModelSpec, request: Request) -> list[str]:
    out = []
    if request.steps is not None:
        out.append(f"--steps applies to diffusion models; {spec.name} is not one")
    if request.context is not None or request.prompt is not None:
        out.append(f"--context / --prompt are token counts of LLMs; {spec.name} is a speech model (use "
                   "--audio-length, --batch, --beams and --new-tokens)")
    if request.image_size is not None:
        out.append(f"--image-size applies to vision models; {spec.name} is a speech model")
    if request.kv_dtype != "auto":
        out.append(f"--kv-dtype applies to token LLMs; {spec.name} is a speech model")
    name = ALIASES.get(request.engine, request.engine)
    if request.engine != "auto" and name not in SPEECH_RUNTIMES:
        out.append(f"--engine {request.engine} does not run speech models (choose from auto, "
                   f"{', '.join(SPEECH_RUNTIMES)})")
    if request.precision not in ("auto", *BYTES):
        out.append(f"--precision {request.precision} is not a speech precision (choose from auto, {', '.join(BYTES)})")
    if request.placement not in ("auto", "single-gpu", "cpu"):
        out.append(f"--placement {request.placement}: a speech model runs on one device (single-gpu or cpu)")
    if request.beams is not None and not 1 <= request.beams <= MAX_BEAMS:
        out.append(f"--beams must be between 1 and {MAX_BEAMS} (got {request.beams})")
    if request.audio_seconds is not None and not 1 <= request.audio_seconds <= 10 * 24 * 3600:
        out.append(f"--audio-length must be between 1 s and 10 days (got {request.audio_seconds} s)")
    s = spec.speech
    if s and request.new_tokens is not None and not 1 <= request.new_tokens <= s.max_target_positions - 4:
        out.append(f"--new-tokens must be between 1 and {s.max_target_positions - 4} ({spec.name} decodes at most "
                   f"{s.max_target_positions} tokens per 30 s window, its prompt included)")
    return out


KIND = onedevice.Kind("speech", SPEECH_RUNTIMES, ALIASES, QUALITY, lambda *a: memory(*a), "30 s windows")


def decide(spec: ModelSpec, snapshot: Snapshot, request: Request,
           siblings: onedevice.Siblings | None = None) -> Recommendation:
    if spec.speech is None:
        from rules.kinds import model_summary, not_modelled

        return not_modelled(spec, request, model_summary(spec))
    audio = request.audio_seconds or WINDOW_SECONDS
    notes = [f"{audio:,} s of audio = {math.ceil(audio / WINDOW_SECONDS):,} window(s) of {WINDOW_SECONDS} s; --batch "
             "windows are decoded at once (memory follows --batch, time the audio)",
             "working memory from the model's sizes (encoder stage or decoder caches, the larger), CPU constants "
             "calibrated on transformers measurements; GPU and faster-whisper figures are estimated"]
    return onedevice.decide(KIND, spec, snapshot, request, lambda r: {
        "context": None, "beams": beams(r), "new_tokens": new_tokens(spec, r)}, notes, siblings)
