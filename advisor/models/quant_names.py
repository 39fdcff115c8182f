"""Quantized checkpoints named as their base model plus a format: "Qwen/Qwen2.5-7B-Instruct-AWQ",
"...-GPTQ-Int4", "...-GPTQ-Int8", "...-FP8", "...-bnb-4bit", "...-GGUF", Ollama tags with a quant
("llama3.1:8b-instruct-q4_K_M") and "hf.co/ORG/REPO-GGUF:Q4_K_M". The base model's exact count comes from the
catalog; the format is what the name says (the common layouts: AWQ and GPTQ 4-bit with groups of 128, FP8, NF4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rules.precisions import lookup

# suffix (case-insensitive, at the end of the name) -> (precision row, method, bits, group size)
_SUFFIXES: tuple[tuple[str, str, str, float, int | None], ...] = (
    (r"[-_.]awq(?:[-_.]?int4)?", "awq-int4", "awq", 4, 128),
    (r"[-_.]gptq[-_.]?int4", "gptq-int4", "gptq", 4, 128),
    (r"[-_.]gptq[-_.]?int8", "gptq-int8", "gptq", 8, 128),
    (r"[-_.]gptq", "gptq-int4", "gptq", 4, 128),
    (r"[-_.]fp8(?:[-_.]dynamic)?", "fp8", "fp8", 8, None),
    (r"[-_.](?:bnb[-_.]4bit|nf4)", "nf4", "bitsandbytes", 4, 64),
    (r"[-_.]w8a8", "int8-w8a8", "compressed-tensors", 8, None),
)
_GGUF_REPO = re.compile(r"[-_.]gguf$", re.I)


@dataclass(frozen=True)
class QuantName:
    base: str  # the name without the format, to look up
    precision: str  # the precision row (or GGUF type) the checkpoint is in
    method: str  # awq, gptq, fp8, bitsandbytes, gguf, ...
    bits: float | None
    group_size: int | None
    how: str


def split_quant(name: str) -> QuantName | None:
    """The base name and the format a quantized checkpoint's name carries, or None."""
    text = name.strip()
    if len(text) > 512:
        return None
    lowered = text.lower()
    if lowered.startswith("hf.co/") and ":" in text:
        repo, _, tag = text[6:].rpartition(":")
        rows = lookup(tag)
        if rows and rows[0].family == "gguf":
            base = _GGUF_REPO.sub("", repo)
            return QuantName(base, rows[0].name, "gguf", None, None, f"GGUF {rows[0].name} from the tag")
    if ":" in text and "/" not in text:  # an Ollama tag: family:size[-variant]-QUANT
        model, _, tag = text.partition(":")
        parts = tag.split("-")
        rows = lookup(parts[-1]) if len(parts) > 1 else ()
        if rows and rows[0].family == "gguf":
            base = f"{model}:{parts[0]}"
            return QuantName(base, rows[0].name, "gguf", None, None, f"GGUF {rows[0].name} from the Ollama tag")
    if _GGUF_REPO.search(text):
        return QuantName(_GGUF_REPO.sub("", text), "gguf", "gguf", None, None, "a GGUF repository")
    for pattern, precision, method, bits, group in _SUFFIXES:
        m = re.search(pattern + r"$", text, re.I)
        if m:
            return QuantName(text[: m.start()], precision, method, bits, group,
                             f"{m.group(0).strip('-_.')} checkpoint (from the name)")
    return None
