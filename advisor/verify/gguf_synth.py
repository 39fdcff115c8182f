"""A synthetic GGUF of a model: the architecture's metadata and every tensor at the plan's GGML type, with the
data all zeros (a sparse file: it takes no disk and reads back as zeros). llama.cpp loads it as it would the real
file, so the weights, KV cache and compute buffers it allocates are those of the real model; nothing is
downloaded and no weights are read.

Per-tensor types follow the plan's mix (rules/gguf_mix.py layer_types and outside_types, with llama.cpp's fallback
for rows a block does not divide). Architectures: the llama family's tensor layout (llama, mistral, qwen2 with its
q/k/v biases, qwen3 with its q/k norms); others are refused with their name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rules.gguf_mix import MIXES, Columns, layer_types, outside_types

ARCHES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}


class NotSynthesizable(Exception):
    """The model's architecture has no synthetic GGUF layout here."""


def _num(cfg: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for k in keys:
        if cfg.get(k) is not None:
            return cfg[k]
    if default is None:
        raise NotSynthesizable(f"the config has no {keys[0]}")
    return default


def tensors(config: dict[str, Any], mix_name: str) -> tuple[str, dict[str, Any], list[tuple[str, list[int], str]]]:
    """(GGUF architecture, its metadata, [(tensor name, shape as numpy orders it, GGML type)])."""
    model_type = config.get("model_type")
    arch = ARCHES.get(str(model_type))
    if arch is None:
        raise NotSynthesizable(f"no synthetic GGUF layout for {model_type} models (llama, mistral, qwen2, qwen3)")
    if mix_name not in MIXES:
        raise NotSynthesizable(f"no tensor types known for {mix_name}")
    mix = MIXES[mix_name]
    h = int(_num(config, "hidden_size"))
    layers = int(_num(config, "num_hidden_layers"))
    heads = int(_num(config, "num_attention_heads"))
    kv = int(_num(config, "num_key_value_heads", default=heads))
    hd = int(_num(config, "head_dim", default=h // heads))
    inter = int(_num(config, "intermediate_size"))
    vocab = int(_num(config, "vocab_size"))
    tied = bool(config.get("tie_word_embeddings", False))
    meta = {"context_length": int(_num(config, "max_position_embeddings", default=4096)), "embedding_length": h,
            "block_count": layers, "feed_forward_length": inter, "head_count": heads, "head_count_kv": kv,
            "rms_eps": float(_num(config, "rms_norm_eps", default=1e-6)),
            "rope_freq_base": float(_num(config, "rope_theta", default=10000.0)), "head_dim": hd, "vocab_size": vocab}
    cols = Columns(h, heads * hd, inter)
    embd_type, out_type = outside_types(mix, cols)
    out: list[tuple[str, list[int], str]] = [("token_embd.weight", [vocab, h], out_type if tied else embd_type),
                                             ("output_norm.weight", [h], "F32")]
    if not tied:
        out.append(("output.weight", [vocab, h], out_type))
    for i in range(layers):
        t = layer_types(mix, i, layers, heads // kv if kv else 1, cols)
        b = f"blk.{i}."
        out += [(b + "attn_norm.weight", [h], "F32"), (b + "attn_q.weight", [heads * hd, h], t["attn_q"]),
                (b + "attn_k.weight", [kv * hd, h], t["attn_k"]), (b + "attn_v.weight", [kv * hd, h], t["attn_v"]),
                (b + "attn_output.weight", [h, heads * hd], t["attn_output"]), (b + "ffn_norm.weight", [h], "F32"),
                (b + "ffn_gate.weight", [inter, h], t["ffn_gate"]), (b + "ffn_up.weight", [inter, h], t["ffn_up"]),
                (b + "ffn_down.weight", [h, inter], t["ffn_down"])]
        if arch == "qwen2":
            out += [(b + "attn_q.bias", [heads * hd], "F32"), (b + "attn_k.bias", [kv * hd], "F32"),
                    (b + "attn_v.bias", [kv * hd], "F32")]
        if arch == "qwen3":
            out += [(b + "attn_q_norm.weight", [hd], "F32"), (b + "attn_k_norm.weight", [hd], "F32")]
    return arch, meta, out


def tensor_nbytes(shape: list[int], type_name: str) -> int:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    block, size = GGML_QUANT_SIZES[GGMLQuantizationType[type_name]]
    n = 1
    for d in shape:
        n *= d
    return n // block * size


def write(path: Path, config: dict[str, Any], mix_name: str) -> int:
    """Write the synthetic GGUF; the bytes of its tensor data (what llama.cpp maps as weights)."""
    import numpy as np
    from gguf import GGUFWriter
    from gguf.constants import GGMLQuantizationType

    arch, meta, items = tensors(config, mix_name)
    w = GGUFWriter(path, arch)
    w.add_name(f"advisor synthetic {config.get('model_type')}")
    w.add_context_length(meta["context_length"])
    w.add_embedding_length(meta["embedding_length"])
    w.add_block_count(meta["block_count"])
    w.add_feed_forward_length(meta["feed_forward_length"])
    w.add_head_count(meta["head_count"])
    w.add_head_count_kv(meta["head_count_kv"])
    w.add_key_length(meta["head_dim"])
    w.add_value_length(meta["head_dim"])
    w.add_layer_norm_rms_eps(meta["rms_eps"])
    w.add_rope_freq_base(meta["rope_freq_base"])
    w.add_vocab_size(meta["vocab_size"])
    # a vocabulary of the model's size (llama.cpp sizes its logits by it): placeholder pieces, no merges needed
    # by the SentencePiece-style vocab; token ids are what the run feeds, so the pieces are never looked at
    w.add_tokenizer_model("llama")
    w.add_token_list([f"<t{i}>" for i in range(meta["vocab_size"])])
    w.add_token_scores([0.0] * meta["vocab_size"])
    w.add_token_types([1] * meta["vocab_size"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    data = 0
    for name, shape, type_name in items:
        nbytes = tensor_nbytes(shape, type_name)
        w.add_tensor_info(name, shape, np.dtype(np.float32), nbytes, raw_dtype=GGMLQuantizationType[type_name])
        data += GGUFWriter.ggml_pad(nbytes, w.data_alignment)
    w.write_header_to_file(path)
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    fout = w.fout[0] if isinstance(w.fout, list) else w.fout
    assert fout is not None
    w.write_padding(fout, fout.tell())
    start = fout.tell()
    fout.flush()
    fout.truncate(start + data)  # zeros, as holes: no disk taken
    w.close()
    return sum(tensor_nbytes(s, t) for _n, s, t in items)
