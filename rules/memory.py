"""Memory, part by part: weights, KV cache, activations / workspace, runtime. Pure arithmetic, bytes.

Engine constants are calibrated on published measurements (tests/data/measured-dev.json: Qwen2.5 with HF
transformers, torch allocator peaks), llama.cpp's published GGUF sizes, and our own CPU measurements
(benchmarks/data/cpu-transformers.json: peak RSS of HF transformers); benchmarks/compare.py prints how far every
estimate lands from every measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rules.gguf_mix import MIXES, TYPE_BITS, LayerShape, mix_bytes
from rules.precisions import Precision
from rules.spec import ModelSpec

GIB = 1024**3
MIB = 1024**2

# --- engine constants (see module docstring for where they come from) ----------------------------------
CUDA_CONTEXT_TORCH = 512 * MIB  # CUDA context + cuBLAS/cuDNN handles of a torch process, per GPU
CUDA_CONTEXT_LLAMACPP = 320 * MIB  # CUDA context of llama.cpp / Ollama runners, per GPU
TRANSFORMERS_BASE = int(0.12 * GIB)  # allocator workspace at generation beyond weights + KV, per GPU
# HF transformers on the CPU: calibrated by advisor.calibration.fit_cpu_constants on the calibration half of
# benchmarks/data/cpu-transformers.json (measured peak RSS); the tests recompute them from the data.
TRANSFORMERS_CPU_PROCESS = 352 * MIB  # python + torch + transformers + the model's modules, besides the weights
TRANSFORMERS_CPU_ACT_BASE = 115 * MIB  # generate's fixed workspace
TRANSFORMERS_CPU_MLP = 10.2  # x prompt tokens x FFN width x element bytes: the MLP's intermediates (and their holes)
TRANSFORMERS_CPU_HOLES = 0.3  # x layers x the prompt's hidden state (capped at the mmap ceiling): heap holes
# the widest run-to-run spread of one row's peak RSS in that dataset (largest over smallest run, less 1, rounded up to
# a whole percent): the same generate() peaks this much higher or lower in another fresh process (heap holes)
TRANSFORMERS_CPU_RUN_SPREAD = 0.28
# glibc serves blocks of at least its mmap threshold with mmap and gives them back to the kernel when freed; the
# threshold adapts to freed blocks up to 32 MiB on 64-bit (mallopt(3), M_MMAP_THRESHOLD). Smaller freed blocks
# stay resident in the heap, so many same-sized temporaries below this size raise the peak RSS; above it they don't.
GLIBC_MMAP_CEILING = 32 * MIB
VLLM_EXTRA = 1024 * MIB  # CUDA graphs and non-torch allocations vLLM reports besides its budget
VLLM_BATCHED_TOKENS = 8192  # vLLM's default max_num_batched_tokens (chunked prefill)
VLLM_MAX_SEQS = 256  # vLLM's default max_num_seqs: the profile run samples this many sequences
VLLM_BLOCK = 16  # tokens per KV block (paged attention)
LLAMACPP_UBATCH = 512  # llama.cpp's default physical micro-batch (-ub)
LLAMACPP_BASE = 256 * MIB  # graph / scratch allocations besides the compute buffer
LLAMACPP_CPU_PROCESS = 128 * MIB
QUANT_WORKSPACE_FACTOR = 1.2  # GPTQ/AWQ kernels keep a dequantized scratch of about the largest matrix

ADAMW_BYTES_PER_PARAM = 16  # bf16 weights 2 + bf16 grads 2 + fp32 master 4 + two fp32 moments 8
ADAPTER_BYTES_PER_PARAM = 16  # fp32 adapter weights 4 + grads 4 + two moments 8


def compute_bytes(precision: Precision, on_cpu: bool) -> int:
    """Bytes per activation element."""
    if precision.name == "fp32" or (on_cpu and precision.family != "gguf" and precision.name != "bf16"):
        return 4
    return 2


# --- weights ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WeightSplit:
    """Weight bytes: the repeated layers (per layer) and everything outside them."""

    total: int
    per_layer: int
    outside: int  # embeddings, output head, final norm, vision tower...
    layers: int


def _linear_params(spec: ModelSpec) -> int:
    g = spec.params_by_group
    return sum(g.get(k, 0) for k in ("attention", "mlp", "experts", "shared_experts"))


def _layer_params(spec: ModelSpec) -> int:
    g = spec.params_by_group
    if not g:
        return spec.params_total
    return sum(g.get(k, 0) for k in ("attention", "mlp", "experts", "shared_experts", "router", "norms"))


def weight_split(spec: ModelSpec, precision: Precision) -> WeightSplit:
    """Weight bytes of `spec` stored at `precision`.

    GGUF files already read give their exact bytes; named GGUF mixes follow llama.cpp's per-tensor rules;
    GPTQ/AWQ/bitsandbytes/FP8 quantize the linear layers and keep embeddings, head and norms at 16 bits.
    """
    layers = spec.layers or 1
    if spec.kind == "other":
        total = math.ceil(spec.params_total * (precision.bits or 16) / 8)
        return WeightSplit(total, 0, total, 1)
    if precision.name == "gguf-file":
        total = spec.weight_bytes or spec.params_total * 2
        outside = sum(v for k, v in spec.params_by_group.items() if k in ("embeddings", "lm_head"))
        outside_bytes = int(total * outside / spec.params_total) if spec.params_total else 0
        return WeightSplit(total, (total - outside_bytes) // layers, outside_bytes, layers)
    if precision.family == "gguf":
        return _gguf_split(spec, precision.name)
    layer_params = _layer_params(spec) if spec.params_by_group else spec.params_total
    outside_params = spec.params_total - layer_params
    if precision.keeps_16bit and spec.params_by_group:
        linear = _linear_params(spec)
        layer_bytes = math.ceil(linear * precision.bits / 8) + (layer_params - linear) * 2
        outside_bytes = outside_params * 2
    elif precision.keeps_16bit:  # no breakdown (approximate specs): quantize 95 %, keep 5 % at 16 bits
        layer_bytes = math.ceil(spec.params_total * 0.95 * precision.bits / 8)
        outside_bytes = math.ceil(spec.params_total * 0.05 * 2)
    else:
        layer_bytes = math.ceil(layer_params * precision.bits / 8)
        outside_bytes = math.ceil(outside_params * precision.bits / 8)
    return WeightSplit(layer_bytes + outside_bytes, layer_bytes // layers, outside_bytes, layers)


def _gguf_split(spec: ModelSpec, mix_name: str) -> WeightSplit:
    mix = MIXES[mix_name]
    g = spec.params_by_group
    layers = spec.layers or 1
    h, heads, kv, hd = spec.hidden_size or 0, spec.heads or 0, spec.kv_heads or 0, spec.head_dim or 0
    attn = g.get("attention", 0) // layers
    if spec.mla is None and h and heads and hd:
        v, o = h * kv * hd, heads * hd * h
        qk = max(0, attn - v - o)
    else:
        v, o, qk = 0, 0, attn
    ffn = (g.get("mlp", 0) + g.get("experts", 0) + g.get("shared_experts", 0)) // layers
    norms = (g.get("norms", 0) + g.get("router", 0)) // layers
    shape = LayerShape(attn_q=qk, attn_k=0, attn_v=v, attn_output=o, ffn_gate_up=ffn * 2 // 3, ffn_down=ffn - ffn * 2 // 3,
                       norms=norms)
    embeddings = g.get("embeddings", 0) + g.get("positions", 0)
    output = g.get("lm_head", 0)
    if not g:  # approximate spec: a flat mix
        bits = TYPE_BITS[mix.base] * 1.05
        total = math.ceil(spec.params_total * bits / 8)
        return WeightSplit(total, total // layers, 0, layers)
    if spec.tied_embeddings and not output:
        # tied: llama.cpp uses token_embd as the output and gives it the output type
        output, embeddings = embeddings, 0
    n_gqa = heads // kv if kv else 1
    whole = mix_bytes(mix, layers, shape, embeddings, output, 0, n_gqa)
    extra = sum(v for k, v in g.items() if k in ("vision", "projector", "pooler")) * 2  # kept at 16 bits
    outside = math.ceil(embeddings * TYPE_BITS[mix.embeddings or mix.base] / 8 + output * TYPE_BITS[mix.output] / 8)
    return WeightSplit(whole + extra, (whole - outside) // layers, outside + extra, layers)


# --- KV cache ---------------------------------------------------------------------------------------------

def caps_sliding_window(engine: str, spec: ModelSpec) -> bool:
    """Does this engine store only `window` tokens for sliding-window layers?"""
    if engine in ("vllm", "llama.cpp", "ollama", "tensorrt-llm"):
        return True
    # transformers: the hybrid cache of Gemma 2/3 caps sliding layers; the default dynamic cache does not.
    return engine == "transformers" and (spec.model_type or "").startswith(("gemma2", "gemma3"))


def caches_latent(engine: str) -> bool:
    """MLA models: engines that cache the compressed latent instead of full K and V."""
    return engine in ("vllm", "llama.cpp", "ollama", "tensorrt-llm")


def kv_bytes_per_token_layer(spec: ModelSpec, engine: str, element_bytes: float) -> float:
    if spec.mla is not None:
        if caches_latent(engine):
            return (spec.mla.kv_lora_rank + spec.mla.qk_rope_head_dim) * element_bytes
        heads = spec.heads or 1
        return heads * (spec.mla.qk_nope_head_dim + spec.mla.qk_rope_head_dim + spec.mla.v_head_dim) * element_bytes
    return 2 * (spec.kv_heads or 0) * (spec.head_dim or 0) * element_bytes


def kv_cache_bytes(spec: ModelSpec, engine: str, tokens: int, batch: int, element_bytes: float,
                   layers: range | None = None) -> int:
    """2 x layers x KV heads x head dim x tokens x batch x bytes (windows and MLA latents as the engine does).

    Args:
        layers: which layers (default all) — for offload, the ones on one device.
    """
    if spec.kind == "other" or not spec.layers:
        return 0
    if engine == "vllm":
        tokens = math.ceil(tokens / VLLM_BLOCK) * VLLM_BLOCK
    per = kv_bytes_per_token_layer(spec, engine, element_bytes)
    windows = spec.sliding_windows or [None] * spec.layers
    cap = caps_sliding_window(engine, spec)
    total = 0.0
    for i in layers if layers is not None else range(spec.layers):
        window = windows[i] if i < len(windows) else None
        held = min(tokens, window) if (cap and window) else tokens
        total += per * held
    return math.ceil(total * batch)


# --- activations / workspace ------------------------------------------------------------------------------

def ffn_width(spec: ModelSpec) -> int:
    return spec.intermediate_size or 4 * (spec.hidden_size or 0)


def transformers_activations(spec: ModelSpec, prompt_tokens: int, batch: int, element_bytes: int) -> int:
    """HF transformers' prefill peak beyond weights and KV, per device holding layers.

    Calibrated on the Qwen2.5 measurements: the peak grows with the prompt by about (4 x FFN width + hidden)
    elements per token (MLP intermediates of the widest layer), on top of a fixed allocator workspace.
    """
    if spec.kind == "other":
        return spec.typical_activation_bytes or 0
    per_token = (4 * ffn_width(spec) + (spec.hidden_size or 0)) * element_bytes
    logits = (spec.vocab_size or 0) * 4 * 2 * batch  # only the last position's logits are kept, in fp32
    return TRANSFORMERS_BASE + prompt_tokens * batch * per_token + logits


def transformers_cpu_activations(spec: ModelSpec, prompt_tokens: int, batch: int, element_bytes: int) -> int:
    """HF transformers' generate peak on the CPU beyond weights, KV and the process (measured peak RSS).

    The MLP's intermediates at the prompt's length, plus per layer the hidden-state-sized temporaries that glibc
    keeps resident as holes in the heap once freed (see heap_kept). Never smaller for a longer prompt.
    """
    if spec.kind == "other":
        return spec.typical_activation_bytes or 0
    tokens = prompt_tokens * batch
    mlp = TRANSFORMERS_CPU_MLP * tokens * ffn_width(spec) * element_bytes
    holes = TRANSFORMERS_CPU_HOLES * (spec.layers or 0) * heap_kept(tokens * (spec.hidden_size or 0) * element_bytes)
    return math.ceil(TRANSFORMERS_CPU_ACT_BASE + mlp + holes)


def heap_kept(block_bytes: int) -> int:
    """The most a freed temporary of this size can leave resident in glibc's heap: all of it below the mmap
    ceiling; a bigger block is mmapped and given back, but the smaller temporaries around it still leave holes,
    so the term stays at the ceiling rather than dropping (which also keeps estimates monotone in the prompt)."""
    return min(block_bytes, GLIBC_MMAP_CEILING)


def quant_workspace(spec: ModelSpec, precision: Precision) -> int:
    if precision.name in ("gptq-int4", "awq-int4"):
        return int(QUANT_WORKSPACE_FACTOR * (spec.hidden_size or 0) * ffn_width(spec) * 2)
    return 0


def vllm_activations(spec: ModelSpec, context: int, batch: int, tp: int) -> int:
    """vLLM's profiled peak: one batch of max_num_batched_tokens, plus sampling logits of max_num_seqs."""
    tokens = min(VLLM_BATCHED_TOKENS, max(context * batch, 1))
    per_token = (4 * ffn_width(spec) // tp + (spec.hidden_size or 0)) * 2
    sampler = 2 * VLLM_MAX_SEQS * (spec.vocab_size or 0) * 4
    return tokens * per_token + sampler


def llamacpp_compute(spec: ModelSpec, context: int) -> int:
    """llama.cpp's compute buffer for one micro-batch (flash attention on: no context x context term)."""
    ub = min(LLAMACPP_UBATCH, max(context, 1))
    h = spec.hidden_size or 0
    return LLAMACPP_BASE + ub * (4 * (spec.vocab_size or 0) + 4 * (3 * h + ffn_width(spec)))


# --- training ---------------------------------------------------------------------------------------------

def lora_params(spec: ModelSpec, rank: int) -> int:
    """LoRA adapters on q, k, v, o of every layer: rank x (in + out) each."""
    h, heads, kv, hd = spec.hidden_size or 0, spec.heads or 0, spec.kv_heads or 0, spec.head_dim or 0
    per_layer = rank * ((h + heads * hd) + 2 * (h + kv * hd) + (heads * hd + h))
    return per_layer * (spec.layers or 0)


def training_activations(spec: ModelSpec, tokens: int, batch: int, checkpointing: bool) -> int:
    """Activations kept for the backward pass, bf16 (Korthikanti et al. 2022: about 34 x s x b x h bytes per
    layer with flash attention when the FFN is 4h wide; generalized to (18h + 4 x FFN)), plus the logits in
    bf16 and fp32 for the loss and its gradient."""
    h = spec.hidden_size or 0
    per_layer_full = tokens * batch * (18 * h + 4 * ffn_width(spec))
    layers = spec.layers or 1
    if checkpointing:
        kept = layers * tokens * batch * h * 2 + per_layer_full
    else:
        kept = layers * per_layer_full
    logits = tokens * batch * (spec.vocab_size or 0) * (2 + 4 + 4)
    return kept + logits


def gguf_metadata_bytes(spec: ModelSpec) -> int:
    """GGUF header, metadata and tokenizer: about 32 bytes per vocabulary entry plus 64 KiB."""
    return (spec.vocab_size or 0) * 32 + 64 * 1024


def rule_of_thumb_bytes(params: int, bytes_per_param: float) -> int:
    """NVIDIA's rule of thumb: params x bytes per param x 2 ("7B at FP16 = 28 GB")."""
    return int(params * bytes_per_param * 2)
