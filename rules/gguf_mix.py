"""GGUF quantization: block formats' exact bits per weight, and named mixes by which tensors get which type.

Block layouts (bits per weight including their scales) are llama.cpp's (ggml-common.h block structs):
Q8_0 = 34 bytes / 32 weights = 8.5; Q4_K = 144 bytes / 256 = 4.5; and so on. Named mixes (Q4_K_M, ...)
follow llama.cpp's quantize rules (llama-quant.cpp, llama_tensor_get_type): the output head gets Q6_K,
attn_v and ffn_down get more bits in some layers ("use_more_bits": the first and last eighth and every
third layer between), attention output more bits in the 3-bit mixes. Norms stay F32.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# Bits per weight of each GGML block type, scales included.
TYPE_BITS: dict[str, float] = {
    "F32": 32.0, "F16": 16.0, "BF16": 16.0,
    "Q8_0": 8.5, "Q6_K": 6.5625, "Q5_K": 5.5, "Q5_0": 5.5, "Q5_1": 6.0, "Q4_K": 4.5, "Q4_0": 4.5, "Q4_1": 5.0,
    "Q3_K": 3.4375, "Q2_K": 2.625, "IQ4_XS": 4.25, "IQ4_NL": 4.5, "IQ3_S": 3.4375, "IQ3_XXS": 3.0625,
    "IQ2_S": 2.5, "IQ2_XS": 2.3125, "IQ2_XXS": 2.0625, "IQ1_S": 1.5625, "MXFP4": 4.25,
}


# Weights per block (ggml's block sizes): the row length (ne[0], a tensor's input width) must be a multiple of it.
BLOCK: dict[str, int] = {"F32": 1, "F16": 1, "BF16": 1, "Q8_0": 32, "Q5_0": 32, "Q5_1": 32, "Q4_0": 32, "Q4_1": 32,
                         "IQ4_NL": 32, "MXFP4": 32}  # every other type: 256 (the K-quants and the i-quants)
# A row that a type's block does not divide is stored in a 32-block type instead, or in F16 when 32 does not divide it
# either (llama.cpp src/llama-quant.cpp tensor_type_fallback; llama-cpp-python 0.3.36's vendored copy).
FALLBACK: dict[str, str] = {"IQ1_S": "IQ4_NL", "IQ1_M": "IQ4_NL", "IQ2_XXS": "IQ4_NL", "IQ2_XS": "IQ4_NL",
                            "IQ2_S": "IQ4_NL", "IQ3_XXS": "IQ4_NL", "IQ3_S": "IQ4_NL", "IQ4_XS": "IQ4_NL",
                            "Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}


def fitted(type_: str, ncols: int | None) -> str:
    """The type a tensor of rows of `ncols` weights really gets when `type_` is asked (None: not known, as asked)."""
    if ncols is None or ncols % BLOCK.get(type_, 256) == 0:
        return type_
    fallback = FALLBACK.get(type_, type_)
    return fallback if ncols % BLOCK.get(fallback, 256) == 0 else "F16"


@dataclass(frozen=True)
class Columns:
    """Each role's row length (ggml's ne[0], the input width), which decides whether its block type fits."""

    hidden: int  # attn_q/k/v, ffn_gate/up, token_embd and output take the hidden state
    attn_output: int  # heads x head dim
    ffn_down: int  # the MLP's (or an expert's) width


def use_more_bits(layer: int, layers: int) -> bool:
    return layer < layers // 8 or layer >= 7 * layers // 8 or (layer - layers // 8) % 3 == 2


Rule = Callable[[int, int, int], str]  # (layer, layers, n_gqa) -> type


@dataclass(frozen=True)
class Mix:
    name: str
    base: str
    output: str = "Q6_K"
    embeddings: str | None = None  # None: the base type
    attn_v: Rule | None = None
    ffn_down: Rule | None = None
    attn_output: Rule | None = None
    experts: str | None = None  # the routed experts' type, when the mix gives them their own (MXFP4_MOE)


def _more(hi: str, lo: str) -> Rule:
    return lambda i, n, g: hi if use_more_bits(i, n) else lo


MIXES: dict[str, Mix] = {
    "F16": Mix("F16", "F16", output="F16"),
    "BF16": Mix("BF16", "BF16", output="BF16"),
    "Q8_0": Mix("Q8_0", "Q8_0", output="Q8_0"),
    "Q6_K": Mix("Q6_K", "Q6_K"),
    "Q5_K_M": Mix("Q5_K_M", "Q5_K", attn_v=_more("Q6_K", "Q5_K"), ffn_down=_more("Q6_K", "Q5_K")),
    "Q5_K_S": Mix("Q5_K_S", "Q5_K"),
    "Q5_0": Mix("Q5_0", "Q5_0"),
    "Q4_K_M": Mix("Q4_K_M", "Q4_K", attn_v=_more("Q6_K", "Q4_K"), ffn_down=_more("Q6_K", "Q4_K")),
    "Q4_K_S": Mix("Q4_K_S", "Q4_K", attn_v=lambda i, n, g: "Q5_K" if i < 4 else "Q4_K",
                  ffn_down=lambda i, n, g: "Q5_K" if i < n // 8 else "Q4_K"),
    "Q4_0": Mix("Q4_0", "Q4_0"),
    "Q3_K_L": Mix("Q3_K_L", "Q3_K", attn_v=lambda i, n, g: "Q5_K", ffn_down=lambda i, n, g: "Q5_K",
                  attn_output=lambda i, n, g: "Q5_K"),
    "Q3_K_M": Mix("Q3_K_M", "Q3_K", attn_v=lambda i, n, g: "Q5_K" if i < 2 else "Q4_K",
                  ffn_down=lambda i, n, g: "Q5_K" if i < n // 16 else "Q4_K", attn_output=lambda i, n, g: "Q4_K"),
    "Q2_K": Mix("Q2_K", "Q2_K", attn_v=lambda i, n, g: "Q4_K" if g >= 4 else "Q3_K",
                ffn_down=lambda i, n, g: "Q3_K", attn_output=lambda i, n, g: "Q3_K"),
    "IQ4_XS": Mix("IQ4_XS", "IQ4_XS", attn_v=lambda i, n, g: "Q5_K" if g >= 4 else "IQ4_XS",
                  ffn_down=lambda i, n, g: "Q5_K" if i < n // 8 else "IQ4_XS"),
    "IQ3_XXS": Mix("IQ3_XXS", "IQ3_XXS", output="Q5_K", attn_v=lambda i, n, g: "Q4_K" if g >= 4 else "Q3_K",
                   ffn_down=lambda i, n, g: "IQ3_S" if i < n // 8 else "IQ3_XXS"),
    # llama.cpp's MXFP4_MOE (tools/quantize: "MXFP4 MoE"): the routed experts in MXFP4, the other tensors Q8_0 --
    # the layout of ggml-org/gpt-oss-20b-GGUF's gpt-oss-20b-mxfp4.gguf.
    "MXFP4_MOE": Mix("MXFP4_MOE", "Q8_0", output="Q8_0", experts="MXFP4"),
    "IQ2_XS": Mix("IQ2_XS", "IQ2_XS", output="Q5_K", embeddings="Q2_K",
                  attn_v=lambda i, n, g: "Q4_K" if g >= 4 else "Q2_K",
                  ffn_down=lambda i, n, g: "Q2_K" if i < n // 8 else "IQ2_XS"),
}


@dataclass(frozen=True)
class LayerShape:
    """Weights of one decoder layer by role, in parameters."""

    attn_q: int
    attn_k: int
    attn_v: int
    attn_output: int
    ffn_gate_up: int
    ffn_down: int
    norms: int
    experts: int = 0  # routed experts' weights, when the mix types them apart (else inside ffn_gate_up / ffn_down)


def outside_types(mix: Mix, cols: Columns | None = None) -> tuple[str, str]:
    """(token_embd, output) types."""
    hidden = cols.hidden if cols else None
    return fitted(mix.embeddings or mix.base, hidden), fitted(mix.output, hidden)


def layer_types(mix: Mix, i: int, layers: int, n_gqa: int, cols: Columns | None = None) -> dict[str, str]:
    """The type of each weight role of layer `i` (attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down,
    experts), after the fallback for rows its block does not divide."""
    hidden = cols.hidden if cols else None

    def t(rule: Rule | None) -> str:
        return rule(i, layers, n_gqa) if rule else mix.base

    return {"attn_q": fitted(mix.base, hidden), "attn_k": fitted(mix.base, hidden),
            "attn_v": fitted(t(mix.attn_v), hidden),
            "attn_output": fitted(t(mix.attn_output), cols.attn_output if cols else None),
            "ffn_gate": fitted(mix.base, hidden), "ffn_up": fitted(mix.base, hidden),
            "ffn_down": fitted(t(mix.ffn_down), cols.ffn_down if cols else None),
            "experts": fitted(mix.experts or mix.base, hidden)}


def mix_bytes(mix: Mix, layers: int, layer: LayerShape, embeddings: int, output: int, extra_norms: int,
              n_gqa: int, cols: Columns | None = None) -> int:
    """Bytes of a whole model quantized with `mix` (tensor data only); `cols` applies llama.cpp's fallback types."""
    embd_type, out_type = outside_types(mix, cols)
    bits = embeddings * TYPE_BITS[embd_type] + output * TYPE_BITS[out_type]
    bits += extra_norms * TYPE_BITS["F32"]
    for i in range(layers):
        types = layer_types(mix, i, layers, n_gqa, cols)
        bits += (layer.attn_q + layer.attn_k) * TYPE_BITS[types["attn_q"]]
        bits += layer.ffn_gate_up * TYPE_BITS[types["ffn_gate"]]
        bits += layer.attn_v * TYPE_BITS[types["attn_v"]] + layer.ffn_down * TYPE_BITS[types["ffn_down"]]
        bits += layer.attn_output * TYPE_BITS[types["attn_output"]] + layer.norms * TYPE_BITS["F32"]
        bits += layer.experts * TYPE_BITS[types["experts"]]
    return int(bits // 8)
