"""The embedding workload: encoders and embedding models (BERT, RoBERTa / XLM-R, Qwen3-Embedding), by sequence
length and batch.

One forward, no cache: per sequence of T tokens the live tensors at a layer are the residual, its norm, q, k, v and
the attention output (6 x H x T) and the MLP's intermediates (2 x F x T for a GELU MLP: fc1's output and the
activation; 3 x F x T for a gated one: gate, up and their product), plus the embeddings' output. Attention goes
through SDPA (transformers' default), so no T x T scores are held. `--context` is the tokens per input (default:
the model's maximum, capped at 512); `--batch` the inputs encoded at once. A decoder run as an embedding model
(Qwen3-Embedding) also builds its KV cache during the forward (use_cache is on by default). CPU constants are calibrated on
benchmarks/data/cpu-embedding.json (benchmarks/calibration_embedding.py) as a range; GPU: x 1.5 + the CUDA
context (estimated: no GPU measurement of encoders yet).
"""

from __future__ import annotations

from probes.schema import Snapshot
from rules.plan import Memory, Recommendation, Request
from rules.runtimes import EMBEDDING_RUNTIMES, MIB, KindRuntime
from rules.spec import ModelSpec
from rules.workloads import onedevice

DEFAULT_TOKENS = 512
BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}
QUALITY = {"fp16": (0, "fp16: the same embeddings as fp32 in practice"), "bf16": (0, "bf16: as fp16 for inference"),
           "fp32": (0, "fp32: full precision")}
# CPU range (benchmarks/calibration_embedding.py on benchmarks/data/cpu-embedding.json)
CPU_FACTOR = 1.093
CPU_BASE = 28 * MIB
CPU_HOLES_FACTOR = 0.24
CPU_HOLES_BASE = 56 * MIB
CPU_PROCESS_TYPICAL = 780 * MIB  # Python + torch + transformers imported and the model built, minus its weights
CPU_PROCESS = 781 * MIB


def tokens(spec: ModelSpec, request: Request) -> int:
    if request.context is not None:
        return request.context
    return min(spec.max_context or DEFAULT_TOKENS, DEFAULT_TOKENS)


def mlp_intermediates(spec: ModelSpec) -> int:
    """2 for a GELU MLP (fc1 and its activation), 3 for a gated one (gate, up, product): from the MLP's parameters
    per layer over H x F (2 matrices or 3)."""
    h, f, layers = spec.hidden_size or 0, spec.intermediate_size or 0, spec.layers or 1
    mlp = spec.params_by_group.get("mlp", 0) / layers
    return 3 if h and f and mlp >= 2.5 * h * f else 2


ENCODERS = ("bert", "roberta", "xlm-roberta", "distilbert", "modernbert", "mpnet", "electra", "deberta-v2")


def cache_elements_per_token(spec: ModelSpec) -> int:
    """A decoder run as an embedding model (Qwen3-Embedding) builds its KV cache during the forward (use_cache is
    on by default; sentence-transformers does not turn it off): every layer's K and V for every token, alive until
    the output returns (traced: 552 MiB live for Qwen3-Embedding-0.6B at 4 x 512 tokens, fp32). Encoders keep none."""
    if (spec.model_type or "") in ENCODERS:
        return 0
    return (spec.layers or 0) * 2 * (spec.kv_heads or 0) * (spec.head_dim or 0)


def score_elements(spec: ModelSpec, t: int) -> int:
    """A decoder's padding-and-causal mask sends SDPA down its math path, which holds one layer's T x T scores per
    head inside the kernel (measured: Qwen3-Embedding-0.6B at 2,048 tokens peaks ~256 MiB above its traced live
    tensors, 16 heads x 2,048^2 fp32). Encoders' all-ones masks are dropped, so their attention holds no scores."""
    if (spec.model_type or "") in ENCODERS:
        return 0
    return (spec.heads or 0) * t * t


def live_elements(spec: ModelSpec, t: int) -> int:
    h, f = spec.hidden_size or 0, spec.intermediate_size or 0
    return (t * (6 * h + mlp_intermediates(spec) * f) + t * h + t * cache_elements_per_token(spec)
            + score_elements(spec, t))


def live_bytes(spec: ModelSpec, request: Request, act_bytes: int) -> float:
    return max(1, request.batch) * live_elements(spec, tokens(spec, request)) * act_bytes


def memory(spec: ModelSpec, runtime: KindRuntime, target_kind: str, precision: str, request: Request) -> Memory:
    b = BYTES[precision]
    cpu = onedevice.CpuRange(CPU_FACTOR, CPU_BASE, CPU_HOLES_FACTOR, CPU_HOLES_BASE, CPU_PROCESS_TYPICAL, CPU_PROCESS)
    return onedevice.range_memory(spec.params_total * b, live_bytes(spec, request, b), target_kind, cpu)


KIND = onedevice.Kind("embedding", EMBEDDING_RUNTIMES, {"sentence_transformers": "sentence-transformers",
                                                        "st": "sentence-transformers"},
                      QUALITY, lambda *a: memory(*a), "sequences")


def problems(spec: ModelSpec, request: Request) -> list[str]:
    out = []
    if request.steps is not None:
        out.append(f"--steps applies to diffusion models; {spec.name} is not one")
    if request.prompt is not None:
        out.append(f"--prompt applies to token LLMs; {spec.name} is an embedding model (use --context for the "
                   "tokens per input)")
    if spec.max_context and request.context is not None and request.context > spec.max_context:
        out.append(f"--context {request.context:,}: {spec.name} takes at most {spec.max_context:,} tokens per input")
    if request.image_size is not None or request.beams is not None or request.new_tokens is not None or (
            request.audio_seconds is not None):
        out.append(f"--image-size, --beams, --new-tokens and --audio-length do not apply to {spec.name}, an embedding "
                   "model")
    if request.kv_dtype != "auto":
        out.append(f"--kv-dtype applies to token LLMs; {spec.name} is an embedding model (it keeps no cache)")
    name = KIND.runtime_name(request.engine)
    if request.engine != "auto" and name not in EMBEDDING_RUNTIMES:
        out.append(f"--engine {request.engine} does not run embedding models here (choose from auto, "
                   f"{', '.join(EMBEDDING_RUNTIMES)})")
    if request.precision not in ("auto", *BYTES):
        out.append(f"--precision {request.precision} is not an embedding precision (choose from auto, "
                   f"{', '.join(BYTES)})")
    if request.placement not in ("auto", "single-gpu", "cpu"):
        out.append(f"--placement {request.placement}: an embedding model runs on one device (single-gpu or cpu)")
    if request.mode != "inference":
        out.append(f"--mode {request.mode}: advisor plans embedding models for inference only")
    return out


def decide(spec: ModelSpec, snapshot: Snapshot, request: Request,
           siblings: onedevice.Siblings | None = None) -> Recommendation:
    if not (spec.layers and spec.hidden_size and spec.intermediate_size and spec.params_by_group):
        # known by its parameter count only (a CLIP of the catalog): its layers' sizes are what the memory needs
        from rules.kinds import model_summary, not_modelled

        return not_modelled(spec, request, model_summary(spec))
    t = tokens(spec, request)
    notes = [f"{t:,} tokens per input (--context), batch {request.batch}: one forward, no cache; working memory from "
             "the model's sizes, CPU constants calibrated on transformers measurements, GPU figures estimated"]
    return onedevice.decide(KIND, spec, snapshot, request, lambda r: {"context": t}, notes, siblings)
