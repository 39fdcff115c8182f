"""Resolve local things a user names: a model directory, a .safetensors file, a .gguf file.

Headers only: config.json (size-capped), safetensors headers, GGUF metadata, and for pickle checkpoints
the zip directory (entry sizes) — never unpickled, never any model code.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from advisor.errors import BadInputError
from advisor.models.count import count_config
from advisor.models.gguf_file import read_gguf
from advisor.models.safetensors_header import SafetensorsHeader, read_header
from advisor.models.spec import Mla, ModelSpec, Quantization, Source, spec_from_counted

MAX_CONFIG_BYTES = 10 * 1024 * 1024
PICKLE_SUFFIXES = (".bin", ".pt", ".pth")

# Bytes per element of the dtype names used in config.json and safetensors.
DTYPE_NAMES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float8_e4m3fn": "F8_E4M3"}
SAFETENSORS_DTYPE_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F8_E4M3": "float8_e4m3fn",
                           "F8_E5M2": "float8_e5m2"}


def read_json(path: Path, what: str = "config") -> dict[str, Any]:
    """Read a small JSON object file (bounded: regular files only, a byte cap, a depth cap).

    Raises:
        BadInputError: unreadable, not a regular file, too large, not JSON, not an object.
    """
    from advisor.bounded import parse_json, read_file

    data = parse_json(read_file(path, "index" if what == "index" else "config"), str(path))
    if not isinstance(data, dict):
        raise BadInputError(f"{path}: expected a JSON object")
    return data


def quantization_of(config: dict[str, Any]) -> Quantization | None:
    """The quantization already applied to a checkpoint, from `quantization_config`."""
    qc = config.get("quantization_config") or (config.get("text_config") or {}).get("quantization_config")
    if not isinstance(qc, dict):
        return None
    method = str(qc.get("quant_method") or ("bitsandbytes" if "load_in_4bit" in qc or "load_in_8bit" in qc else "unknown"))
    bits: float | None = qc.get("bits") if isinstance(qc.get("bits"), int | float) else None
    if method == "bitsandbytes":
        bits = 4 if qc.get("load_in_4bit") else 8 if qc.get("load_in_8bit") else bits
    elif method in ("fp8", "fbgemm_fp8"):
        bits = 8
    elif method == "mxfp4":
        bits = 4
    elif method == "compressed-tensors":
        for group in (qc.get("config_groups") or {}).values():
            weights = (group or {}).get("weights") or {}
            if isinstance(weights.get("num_bits"), int):
                bits = weights["num_bits"]
                break
    group = qc.get("group_size")
    details = {k: v for k, v in qc.items() if k in ("bnb_4bit_quant_type", "bnb_4bit_compute_dtype", "sym", "desc_act",
                                                     "weight_block_size", "version", "zero_point", "format")}
    return Quantization(method=method, bits=bits, group_size=group if isinstance(group, int) else None, details=details)


def native_dtype_of(config: dict[str, Any], headers: list[SafetensorsHeader]) -> str | None:
    for key in ("torch_dtype", "dtype"):
        for cfg in (config, config.get("text_config") or {}):
            value = cfg.get(key) if isinstance(cfg, dict) else None
            if isinstance(value, str):
                return value
    if headers:
        by_dtype: dict[str, int] = {}
        for h in headers:
            for dtype, n in h.elements_by_dtype.items():
                by_dtype[dtype] = by_dtype.get(dtype, 0) + n
        top = max(by_dtype, key=lambda d: by_dtype[d])
        return SAFETENSORS_DTYPE_NAMES.get(top, top)
    return None


def _weight_files(directory: Path) -> tuple[list[Path], list[str]]:
    """The safetensors shards of a directory (from the index when there is one), and notes."""
    notes: list[str] = []
    index = directory / "model.safetensors.index.json"
    if index.exists():
        weight_map = read_json(index, "index").get("weight_map")
        if not isinstance(weight_map, dict):
            raise BadInputError(f"{index}: no weight_map object")
        names = sorted({str(v) for v in weight_map.values()})
        files = [directory / n for n in names]
        missing = [f.name for f in files if not f.exists()]
        if missing:
            notes.append(f"{len(missing)} of {len(files)} shards listed in the index are not present (e.g. {missing[0]})")
        return [f for f in files if f.exists()], notes
    return sorted(directory.glob("*.safetensors")), notes


def _pickle_bytes(files: list[Path]) -> tuple[int | None, list[str]]:
    """Storage bytes of torch zip checkpoints from their zip directory (no unpickling)."""
    total = 0
    for f in files:
        if not zipfile.is_zipfile(f):
            return None, [f"{f.name} is a legacy pickle: its size cannot be told without unpickling, which advisor never does"]
        with zipfile.ZipFile(f) as archive:
            total += sum(i.file_size for i in archive.infolist() if re.search(r"/data/\d+$", i.filename))
    return total, ["weight bytes read from the zip directory of pickle checkpoints (not unpickled)"]


def resolve_directory(directory: Path, source: Source = "directory", name: str | None = None) -> ModelSpec:
    """A model directory: config.json for the architecture, safetensors headers for exact bytes."""
    config_path = directory / "config.json"
    if not config_path.exists():
        ggufs = sorted(directory.glob("*.gguf"))
        if len(ggufs) == 1:
            return resolve_gguf(ggufs[0], source=source)
        if ggufs:
            raise BadInputError(f"{directory}: holds {len(ggufs)} GGUF files; name one of them")
        raise BadInputError(f"{directory}: no config.json here (not a model directory)")
    config = read_json(config_path)
    files, notes = _weight_files(directory)
    headers = [read_header(f) for f in files]
    weight_bytes = sum(h.data_bytes for h in headers) if headers else None
    bytes_by_dtype: dict[str, int] = {}
    for h in headers:
        for dtype, n in h.bytes_by_dtype.items():
            bytes_by_dtype[dtype] = bytes_by_dtype.get(dtype, 0) + n
    if not headers:
        pickles = sorted(p for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES and p.is_file())
        if pickles:
            weight_bytes, more = _pickle_bytes(pickles)
            notes += more
        else:
            notes.append("no weight files here: memory from the config alone")
    quant = quantization_of(config)
    try:
        counted = count_config(config, str(config_path))
    except BadInputError as exc:
        if "is not supported" not in str(exc) or not headers:
            raise
        return _from_headers(directory, config, headers, source, name, str(exc), notes, quant)
    stored = sum(h.elements for h in headers)
    if headers and stored != counted.total + sum(counted.extra.values()) and quant is None:
        notes.append(f"the checkpoint stores {stored:,} elements; the architecture has {counted.total:,} parameters "
                     "(the difference is buffers or extra tensors)")
    if quant is not None:
        notes.append(f"already quantized: {quant.method}" + (f" {quant.bits:g}-bit" if quant.bits else ""))
    return spec_from_counted(
        counted,
        name=name or directory.name,
        source=source,
        location=str(directory),
        model_type=str(config.get("model_type")),
        architecture=(config.get("architectures") or [None])[0],
        modality="vision-language" if "vision" in counted.groups else "text",
        exact=True,
        native_dtype=native_dtype_of(config, headers),
        quantization=quant,
        weight_bytes=weight_bytes,
        bytes_by_dtype=bytes_by_dtype,
        notes=notes,
    )


def resolve_safetensors(path: Path) -> ModelSpec:
    """A lone .safetensors file: exact stored elements and bytes; shapes inferred from tensor names."""
    header = read_header(path)
    config = path.parent / "config.json"
    if config.exists():
        spec = resolve_directory(path.parent, name=path.stem)
        return spec.model_copy(update={"source": "safetensors", "location": str(path),
                                       "weight_bytes": header.data_bytes, "bytes_by_dtype": header.bytes_by_dtype})
    shapes = header.tensor_shapes
    layers = {int(m.group(1)) for n in shapes if (m := re.search(r"layers\.(\d+)\.", n))}
    embed = next((s for n, s in shapes.items() if n.endswith(("embed_tokens.weight", "wte.weight", "word_embeddings.weight"))), None)
    k_proj = next((s for n, s in shapes.items() if n.endswith("self_attn.k_proj.weight")), None)
    q_proj = next((s for n, s in shapes.items() if n.endswith("self_attn.q_proj.weight")), None)
    head_dim = 128 if (q_proj and q_proj[0] % 128 == 0) else 64
    estimated = ["params_total (stored elements, no config)", "head_dim"]
    return ModelSpec(
        name=path.stem,
        source="safetensors",
        location=str(path),
        params_total=header.elements,
        params_active=header.elements,
        exact=False,
        estimated=estimated,
        layers=len(layers) or None,
        vocab_size=embed[0] if embed else None,
        hidden_size=embed[1] if embed and len(embed) > 1 else None,
        heads=q_proj[0] // head_dim if q_proj else None,
        kv_heads=k_proj[0] // head_dim if k_proj else None,
        head_dim=head_dim if q_proj else None,
        native_dtype=native_dtype_of({}, [header]),
        weight_bytes=header.data_bytes,
        bytes_by_dtype=header.bytes_by_dtype,
        notes=["no config.json beside the file: architecture inferred from tensor names and shapes (estimated)"],
    )


def _meta(info: Any, key: str) -> Any:
    value = info.metadata.get(f"{info.architecture}.{key}")
    return value


def resolve_gguf(path: Path, source: Source = "gguf") -> ModelSpec:
    """A .gguf file: exact elements and bytes per tensor type, architecture and context from metadata."""
    info = read_gguf(path)
    heads = _meta(info, "attention.head_count")
    kv = _meta(info, "attention.head_count_kv")
    if isinstance(heads, list):
        heads = max(heads) if heads else None
    if isinstance(kv, list):  # per-layer KV heads (some architectures)
        kv = max(kv) if kv else None
    hidden = _meta(info, "embedding_length")
    head_dim = _meta(info, "attention.key_length") or (hidden // heads if hidden and heads else None)
    layers = _meta(info, "block_count")
    window = _meta(info, "attention.sliding_window")
    experts = _meta(info, "expert_count")
    used = _meta(info, "expert_used_count")
    active = info.elements
    if experts and used and info.expert_elements:
        active = info.elements - info.expert_elements + info.expert_elements * used // experts
    kv_rank = _meta(info, "attention.kv_lora_rank")
    mla = None
    if kv_rank:
        rope = _meta(info, "rope.dimension_count") or 64
        mla = Mla(kv_lora_rank=kv_rank, qk_rope_head_dim=rope, qk_nope_head_dim=(head_dim or rope) - rope,
                  v_head_dim=_meta(info, "attention.value_length") or 128)
    bits = 8 * info.data_bytes / info.elements if info.elements else None
    vocab = info.vocab_size or (info.token_embd_shape[-1] if info.token_embd_shape else None)
    return ModelSpec(
        name=info.name or path.stem,
        source=source,
        location=str(path),
        model_type=info.architecture,
        family=info.architecture,
        params_total=info.elements,
        params_active=active,
        exact=True,
        params_by_group=info.elements_by_group,
        layers=layers,
        hidden_size=hidden,
        heads=heads,
        kv_heads=kv or heads,
        head_dim=head_dim,
        intermediate_size=_meta(info, "feed_forward_length") if isinstance(_meta(info, "feed_forward_length"), int) else None,
        vocab_size=vocab,
        max_context=_meta(info, "context_length"),
        sliding_windows=[window] * layers if window and layers else [],
        mla=mla,
        experts=experts or None,
        experts_per_token=used or None,
        native_dtype=None,
        quantization=Quantization(method="gguf", bits=round(bits, 4) if bits else None,
                                  details={"file_type": info.file_type,
                                           "bytes_by_type": dict(sorted(info.bytes_by_type.items()))}),
        weight_bytes=info.data_bytes,
        bytes_by_dtype=info.bytes_by_type,
        notes=[f"GGUF {info.file_type or 'file'}: {bits:.2f} effective bits per weight"] if bits else [],
    )


def config_shape(config: dict[str, Any]) -> dict[str, int | None]:
    """What the KV cache needs, read from a config where it says (any architecture): positive integers or None."""
    from advisor.models.count import pick

    def num(meaning: str) -> int | None:
        text = config.get("text_config")
        cfg: dict[str, Any] = text if isinstance(text, dict) else config
        value = pick(cfg, meaning)
        return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1 << 24 else None

    hidden, heads = num("hidden"), num("heads")
    return {"hidden_size": hidden, "layers": num("layers"), "heads": heads, "kv_heads": num("kv_heads") or heads,
            "head_dim": (hidden // heads) if hidden and heads else None, "vocab_size": num("vocab"),
            "intermediate_size": num("intermediate"), "max_context": num("context")}


def _from_headers(directory: Path, config: dict[str, Any], headers: list[SafetensorsHeader], source: Source,
                  name: str | None, why: str, notes: list[str], quant: Quantization | None) -> ModelSpec:
    """An architecture advisor does not count, with its weights on disk: the parameters exactly from the
    safetensors headers, the attention shape (the KV cache) from the config where it says, marked estimated."""
    total = sum(h.elements for h in headers)
    shape = config_shape(config)
    by_dtype: dict[str, int] = {}
    for h in headers:
        for dtype, n in h.bytes_by_dtype.items():
            by_dtype[dtype] = by_dtype.get(dtype, 0) + n
    estimated = ["params_active", "layers", "heads", "kv_heads", "head_dim", "max_context"]
    return ModelSpec(
        name=name or directory.name, source=source, location=str(directory), model_type=str(config.get("model_type")),
        architecture=(config.get("architectures") or [None])[0], params_total=total, params_active=total, exact=False,
        estimated=estimated, **shape, native_dtype=native_dtype_of(config, headers), quantization=quant,
        weight_bytes=sum(h.data_bytes for h in headers), bytes_by_dtype=by_dtype,
        notes=[*notes, f"APPROXIMATE: {why}; the weights ({total:,} parameters) are exact from the safetensors "
                       "headers, the attention shape (KV cache) is read from the config where it says"],
    )
