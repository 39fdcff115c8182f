"""The precision ladder, as data: bytes per weight, which tensors stay 16-bit, hardware needs, engines, quality.

Sources: NVIDIA CUDA programming guide (compute capabilities), PyTorch docs, bitsandbytes docs (LLM.int8 needs
compute capability >= 7.5; NF4 blocks of 64 with an fp32 absmax), AutoGPTQ/AutoAWQ formats (4-bit weights,
fp16 scale and packed 4-bit zero per group of 128), NVIDIA NVFP4 (fp8 scale per 16 values), OCP MXFP4
(8-bit scale per 32), llama.cpp block layouts and its perplexity table (tools/quantize/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.gguf_mix import MIXES
from rules.spec import Quantization


@dataclass(frozen=True)
class Precision:
    name: str
    family: str  # float | fp8 | int8 | int4 | fp4 | gguf
    bits: float  # bits per weight of quantized matrices, scales and zeros included
    quality_rank: int  # 0 best (which engines run it is each engine's own fact: rules/engines/)
    needs: str | None = None  # ability a GPU must have: bf16 | fp8 | fp4 | int8_tensor_cores
    min_cc: tuple[int, int] | None = None  # compute capability floor on NVIDIA GPUs
    keeps_16bit: bool = False  # embeddings, output head and norms stay 16-bit
    cpu: bool = False  # runs on the CPU (in the engines that run it there)
    torch_dtype: str | None = None  # transformers' torch_dtype for this choice
    quality: str = ""
    method: str = ""  # how the weights get this precision (for settings)
    # The parameter groups a keeps_16bit format quantizes; everything else stays 16-bit.
    quantized_groups: tuple[str, ...] = ("attention", "mlp", "experts", "shared_experts", "mixer")


# Quality notes cite published figures where there are any; "ppl" = perplexity change vs F16 on Llama-3.1-8B
# as printed in llama.cpp's tools/quantize/README.md.
PRECISIONS: tuple[Precision, ...] = (
    Precision("bf16", "float", 16, 0, needs="bf16", cpu=True,
              torch_dtype="bfloat16", quality="full quality (the native dtype of most current checkpoints)"),
    Precision("fp16", "float", 16, 0, torch_dtype="float16",
              quality="full quality; overflow risk for some bf16-trained models"),
    Precision("fp32", "float", 32, 0, cpu=True, torch_dtype="float32",
              quality="full quality at twice the memory of bf16"),
    Precision("fp8", "fp8", 8, 1, needs="fp8", keeps_16bit=True, torch_dtype="bfloat16",
              quality="near-lossless (dynamic per-tensor E4M3)", method="vllm --quantization fp8"),
    Precision("int8", "int8", 8 + 32 / 4096, 2, needs="int8_tensor_cores", keeps_16bit=True,
              torch_dtype="float16", quality="near-lossless (LLM.int8 with outlier decomposition)",
              method="bitsandbytes LLM.int8"),
    Precision("int8-w8a8", "int8", 8 + 16 / 4096, 2, min_cc=(7, 5), keeps_16bit=True,
              torch_dtype="bfloat16", quality="near-lossless (SmoothQuant-style W8A8)",
              method="a pre-quantized W8A8 / GPTQ-8bit checkpoint"),
    # GPTQ 8-bit, group 128: 8-bit weights, an fp16 scale and an 8-bit zero per group (AutoGPTQ / GPTQModel layout)
    Precision("gptq-int8", "int8", 8 + 16 / 128 + 8 / 128, 2, min_cc=(7, 5), keeps_16bit=True, torch_dtype="float16",
              quality="near-lossless (GPTQ 8-bit, group 128)", method="a pre-quantized GPTQ-Int8 checkpoint"),
    Precision("awq-int4", "int4", 4 + 16 / 128 + 4 / 128, 4, min_cc=(7, 5),
              keeps_16bit=True, torch_dtype="float16", quality="small loss (activation-aware, group 128)",
              method="a pre-quantized AWQ checkpoint"),
    Precision("gptq-int4", "int4", 4 + 16 / 128 + 4 / 128, 4, min_cc=(7, 5), keeps_16bit=True,
              torch_dtype="float16", quality="small loss (GPTQ, group 128)", method="a pre-quantized GPTQ checkpoint"),
    Precision("nf4", "int4", 4 + 32 / 64, 5, min_cc=(6, 0), keeps_16bit=True,
              torch_dtype="bfloat16", quality="small loss (bitsandbytes NF4, blocks of 64)",
              method="bitsandbytes 4-bit NF4"),
    Precision("nvfp4", "fp4", 4 + 8 / 16, 4, needs="fp4", keeps_16bit=True,
              torch_dtype="bfloat16", quality="small loss (FP4 with an FP8 scale per 16)",
              method="a pre-quantized NVFP4 checkpoint"),
    # MXFP4 as gpt-oss ships it: only the MoE experts are MXFP4 (its quantization_config's modules_to_not_convert
    # keeps attention, router, embeddings and head in bf16). transformers runs it from compute capability 7.5 (below,
    # it dequantizes to bf16: docs/source/en/quantization/mxfp4.md); vLLM on Hopper/Blackwell and on Ampere through
    # Marlin MXFP4 MoE (vllm-project/recipes OpenAI/GPT-OSS.md): 8.0 is the floor both share.
    Precision("mxfp4", "fp4", 4 + 8 / 32, 5, min_cc=(8, 0), keeps_16bit=True, torch_dtype="bfloat16",
              quality="small loss (OCP MXFP4, scale per 32)", method="a pre-quantized MXFP4 checkpoint",
              quantized_groups=("experts",)),
)

# GGUF mixes: quality rank and published perplexity change (llama.cpp quantize README, Llama-3.1-8B).
_GGUF_QUALITY: dict[str, tuple[int, str]] = {
    "F16": (0, "full quality"),
    "BF16": (0, "full quality"),
    "Q8_0": (2, "near-lossless"),
    "Q6_K": (3, "near-lossless"),
    "Q5_K_M": (3, "very small loss"),
    "Q5_K_S": (3, "very small loss"),
    "Q5_0": (4, "small loss"),
    "Q4_K_M": (4, "small loss; the usual default"),
    "Q4_K_S": (5, "small loss"),
    "Q4_0": (5, "noticeable loss (legacy format)"),
    "IQ4_XS": (5, "small loss"),
    "Q3_K_L": (6, "noticeable loss"),
    "Q3_K_M": (6, "noticeable loss"),
    "IQ3_XXS": (7, "large loss"),
    "Q2_K": (8, "large loss"),
    "IQ2_XS": (8, "very large loss"),
    "MXFP4_MOE": (5, "small loss (MXFP4 experts, as gpt-oss ships; Q8_0 elsewhere)"),
}

GGUF_PRECISIONS: tuple[Precision, ...] = tuple(
    Precision(name, "gguf", 0.0, rank, cpu=True, quality=quality, method=f"a {name} GGUF file")
    for name, (rank, quality) in _GGUF_QUALITY.items() if name in MIXES
)

ALL: tuple[Precision, ...] = PRECISIONS + GGUF_PRECISIONS
BY_NAME: dict[str, Precision] = {p.name: p for p in ALL}
# Case-insensitive names; where a float and a GGUF type share one ("bf16" / "BF16"), the float row wins.
_BY_LOWER: dict[str, Precision] = {p.name.lower(): p for p in reversed(ALL)}

# What `--precision X` may name: one row, or a family of rows.
ALIASES: dict[str, tuple[str, ...]] = {
    "int4": ("awq-int4", "gptq-int4", "nf4"),
    "4bit": ("awq-int4", "gptq-int4", "nf4"),
    "int8": ("int8", "int8-w8a8"),
    "8bit": ("int8", "int8-w8a8"),
    "fp4": ("nvfp4", "mxfp4"),
    "awq": ("awq-int4",),
    "gptq": ("gptq-int4",),
    "gptq-int4": ("gptq-int4",),
    "gptq8": ("gptq-int8",),
    "bnb-int8": ("int8",),
    "float16": ("fp16",),
    "bfloat16": ("bf16",),
    "float32": ("fp32",),
    "f16": ("fp16", "F16"),
    "gguf": tuple(p.name for p in GGUF_PRECISIONS),
}


def lookup(name: str) -> tuple[Precision, ...]:
    """The rows a user's precision name means (case-insensitive); empty when unknown."""
    exact = name.strip()
    if exact in BY_NAME:
        return (BY_NAME[exact],)
    key = exact.lower()
    if key in ALIASES:
        return tuple(BY_NAME[n] for n in ALIASES[key])
    if key in _BY_LOWER:
        return (_BY_LOWER[key],)
    return ()


def known_names() -> list[str]:
    return sorted({p.name for p in ALL} | set(ALIASES))


# KV cache element sizes, bytes: fp16/bf16 2; fp8 1; llama.cpp q8_0 blocks of 32 in 34 bytes; q4_0 32 in 18.
KV_BYTES: dict[str, float] = {"fp16": 2.0, "bf16": 2.0, "fp8": 1.0, "q8_0": 34 / 32, "q4_0": 18 / 32, "fp32": 4.0}


def checkpoint_precision(q: Quantization) -> str | None:
    """The precision row a pre-quantized checkpoint's quantization_config is (None: none of ours)."""
    return {"gptq": "gptq-int4" if (q.bits or 4) == 4 else "gptq-int8", "awq": "awq-int4", "fp8": "fp8",
            "bitsandbytes": "nf4" if (q.bits or 4) == 4 else "int8", "mxfp4": "mxfp4",
            "compressed-tensors": "int8-w8a8" if (q.bits or 8) == 8 else "gptq-int4"}.get(q.method)
