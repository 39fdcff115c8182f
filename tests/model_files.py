"""Writers of real small model files for tests: safetensors, GGUF (with the gguf library), HF cache trees."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from advisor.models.safetensors_header import write_safetensors

TINY_LLAMA = dict(model_type="llama", architectures=["LlamaForCausalLM"], hidden_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, intermediate_size=128, vocab_size=100,
                  max_position_embeddings=2048, tie_word_embeddings=False, torch_dtype="bfloat16")


def tiny_llama_tensors(cfg: dict[str, Any] = TINY_LLAMA, dtype: str = "BF16") -> dict[str, tuple[str, list[int]]]:
    h, inter, vocab = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    kv_dim = cfg["num_key_value_heads"] * h // cfg["num_attention_heads"]
    t: dict[str, tuple[str, list[int]]] = {"model.embed_tokens.weight": (dtype, [vocab, h])}
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t[p + "self_attn.q_proj.weight"] = (dtype, [h, h])
        t[p + "self_attn.k_proj.weight"] = (dtype, [kv_dim, h])
        t[p + "self_attn.v_proj.weight"] = (dtype, [kv_dim, h])
        t[p + "self_attn.o_proj.weight"] = (dtype, [h, h])
        t[p + "mlp.gate_proj.weight"] = (dtype, [inter, h])
        t[p + "mlp.up_proj.weight"] = (dtype, [inter, h])
        t[p + "mlp.down_proj.weight"] = (dtype, [h, inter])
        t[p + "input_layernorm.weight"] = (dtype, [h])
        t[p + "post_attention_layernorm.weight"] = (dtype, [h])
    t["model.norm.weight"] = (dtype, [h])
    t["lm_head.weight"] = (dtype, [vocab, h])
    return t


def write_model_dir(directory: Path, cfg: dict[str, Any] = TINY_LLAMA, shards: int = 1) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(cfg))
    tensors = tiny_llama_tensors(cfg)
    if shards == 1:
        write_safetensors(directory / "model.safetensors", tensors)
        return directory
    names = list(tensors)
    weight_map = {}
    for s in range(shards):
        part = {n: tensors[n] for n in names[s::shards]}
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(directory / fname, part)
        weight_map.update({n: fname for n in part})
    (directory / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return directory


def write_gguf(path: Path, arch: str = "llama", name: str = "tiny-llama") -> Path:
    from gguf import GGMLQuantizationType, GGUFWriter

    w = GGUFWriter(str(path), arch)
    w.add_name(name)
    w.add_context_length(4096)
    w.add_block_count(2)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_feed_forward_length(128)
    w.add_file_type(7)  # MOSTLY_Q8_0
    w.add_token_list([f"t{i}" for i in range(100)])
    w.add_tensor("token_embd.weight", np.zeros((100, 64), dtype=np.float16))
    for i in range(2):
        # Q8_0: blocks of 32 weights in 34 bytes; a 64x64 matrix is 64 rows of 68 bytes.
        w.add_tensor(f"blk.{i}.attn_q.weight", np.zeros((64, 68), dtype=np.uint8), raw_dtype=GGMLQuantizationType.Q8_0)
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.zeros(64, dtype=np.float32))
    w.add_tensor("output.weight", np.zeros((100, 68), dtype=np.uint8), raw_dtype=GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def write_hf_cache(cache: Path, repo_id: str, cfg: dict[str, Any] = TINY_LLAMA, commit: str = "a" * 40,
                   with_weights: bool = True) -> Path:
    """The layout huggingface_hub writes: blobs, snapshots/<commit>/ with links to them, refs/main."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    blobs = repo / "blobs"
    blobs.mkdir()
    (blobs / "cfgblob").write_text(json.dumps(cfg))
    (snap / "config.json").symlink_to(Path("../../blobs/cfgblob"))
    if with_weights:
        write_safetensors(blobs / "weightsblob", tiny_llama_tensors(cfg))
        (snap / "model.safetensors").symlink_to(Path("../../blobs/weightsblob"))
    return snap


def write_torch_zip(path: Path, storages: list[int]) -> Path:
    """A file laid out like torch.save's zip format (data.pkl + data/N storages). Never unpickled."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        for i, size in enumerate(storages):
            archive.writestr(f"archive/data/{i}", b"\0" * size)
        archive.writestr("archive/version", b"3\n")
    return path
