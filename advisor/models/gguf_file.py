"""Read a GGUF file's metadata and tensor infos with the `gguf` library: exact bytes per tensor type.

The tensor data is memory-mapped by the library, never read. The fixed header is checked first (magic,
version, counts within bounds), and any failure inside the library becomes one clear error.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advisor.errors import BadInputError

MAX_TENSORS = 1_000_000
MAX_KV = 100_000


@dataclass(frozen=True)
class GgufInfo:
    path: Path
    architecture: str
    name: str | None
    metadata: dict[str, Any]
    elements: int
    data_bytes: int
    bytes_by_type: dict[str, int]
    elements_by_type: dict[str, int]
    expert_elements: int
    file_type: str | None
    vocab_size: int | None
    token_embd_shape: tuple[int, ...] = field(default_factory=tuple)
    elements_by_group: dict[str, int] = field(default_factory=dict)


def tensor_group(name: str) -> str:
    """The tensor group of a GGUF tensor name (llama.cpp naming)."""
    if name.startswith("token_embd"):
        return "embeddings"
    if name.startswith("output.") or name == "output":
        return "lm_head"
    if "norm" in name:
        return "norms"
    if "_exps" in name:
        return "experts"
    if "shexp" in name:
        return "shared_experts"
    if "ffn_gate_inp" in name:
        return "router"
    if ".attn_" in name:
        return "attention"
    if ".ffn_" in name:
        return "mlp"
    if name.startswith(("v.", "mm.")):
        return "vision"
    return "other"


_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUF value type -> bytes
_FORMAT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
MAX_DIMS = 8
MAX_DECODED_ARRAY = 4096  # longer arrays (the tokenizer's) are walked and counted, not decoded


@dataclass
class _Header:
    metadata: dict[str, Any] = field(default_factory=dict)
    array_lengths: dict[str, int] = field(default_factory=dict)
    tensors: list[tuple[str, tuple[int, ...], int, int]] = field(default_factory=list)  # name, ne, type id, offset
    data_start: int = 0


def _read_header(path: Path) -> tuple[_Header, int]:
    """Walk the whole GGUF header (metadata and tensor infos) with every length checked against the bytes left: a
    count that the file cannot hold (an array claiming 2**40 elements in a 1 KB file) is refused at once instead
    of looping or allocating. Returns the header and the file's size."""
    from advisor.bounded import open_regular

    try:
        with open_regular(path, "GGUF") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < 24:
                raise BadInputError(f"{path}: not a GGUF file (no GGUF magic)")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                return _walk_header(path, view, size), size
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:  # mmap of an empty or special file
        raise BadInputError(f"{path}: cannot map: {exc}") from exc


def _walk_header(path: Path, view: mmap.mmap, size: int) -> _Header:
    head = view[:24]
    if head[:4] != b"GGUF":
        raise BadInputError(f"{path}: not a GGUF file (no GGUF magic)")
    version, tensors, kvs = struct.unpack("<IQQ", head[4:24])
    if version not in (2, 3):
        raise BadInputError(f"{path}: GGUF version {version} is not supported (2 or 3)")
    if tensors > MAX_TENSORS or kvs > MAX_KV:
        raise BadInputError(f"{path}: absurd header ({tensors} tensors, {kvs} metadata keys)")
    pos = 24
    out = _Header()

    def need(n: int, what: str) -> None:
        if n < 0 or pos + n > size:
            raise BadInputError(f"{path}: malformed GGUF ({what} claims {n:,} bytes, {size - pos:,} left in the file)")

    def u64() -> int:
        nonlocal pos
        need(8, "a length")
        (v,) = struct.unpack_from("<Q", view, pos)
        pos += 8
        return int(v)

    def u32() -> int:
        nonlocal pos
        need(4, "a type")
        (v,) = struct.unpack_from("<I", view, pos)
        pos += 4
        return int(v)

    def string(what: str, keep: bool = True) -> str:
        nonlocal pos
        n = u64()
        need(n, what)
        text = bytes(view[pos:pos + n]).decode("utf-8", errors="replace") if keep else ""
        pos += n
        return text

    def value(kind: int, depth: int, keep: bool) -> Any:
        """The value at pos (None when not kept); arrays longer than MAX_DECODED_ARRAY are walked, not kept."""
        nonlocal pos
        if kind in _SCALAR:
            need(_SCALAR[kind], "a value")
            v = struct.unpack_from(_FORMAT[kind], view, pos)[0] if keep else None
            pos += _SCALAR[kind]
            return v
        if kind == _STRING:
            return string("a string", keep)
        if kind == _ARRAY and depth < 2:
            inner, count = u32(), u64()
            least = _SCALAR.get(inner, 8)  # a string or an array takes at least its 8-byte length
            need(count * least, f"an array of {count:,} elements")
            keep = keep and count <= MAX_DECODED_ARRAY
            if inner in _SCALAR:
                items = list(struct.unpack_from(f"<{count}{_FORMAT[inner][1]}", view, pos)) if keep else None
                pos += count * least
                return items
            if inner not in (_STRING, _ARRAY):
                raise BadInputError(f"{path}: malformed GGUF (unknown value type {inner})")
            got = [value(inner, depth + 1, keep) for _ in range(count)]
            return got if keep else None
        raise BadInputError(f"{path}: malformed GGUF (unknown value type {kind})")

    for _ in range(kvs):
        key = string("a metadata key")
        kind = u32()
        if kind == _ARRAY:
            need(12, "an array header")
            out.array_lengths[key] = int(struct.unpack_from("<Q", view, pos + 4)[0])
        v = value(kind, 0, not key.startswith("tokenizer."))  # the tokenizer's arrays are large and not needed
        if v is not None:
            out.metadata[key] = v
    for _ in range(tensors):
        name = string("a tensor name")
        dims = u32()
        if not 1 <= dims <= MAX_DIMS:
            raise BadInputError(f"{path}: malformed GGUF (a tensor with {dims} dimensions)")
        need(8 * dims + 12, "a tensor's shape")
        ne = struct.unpack_from(f"<{dims}Q", view, pos)
        type_id, offset = struct.unpack_from("<IQ", view, pos + 8 * dims)
        pos += 8 * dims + 12
        out.tensors.append((name, tuple(int(d) for d in ne), int(type_id), int(offset)))
    align = out.metadata.get("general.alignment", 32)
    align = align if isinstance(align, int) and 0 < align <= 1 << 20 else 32
    out.data_start = -(-pos // align) * align
    return out


def read_gguf(path: Path) -> GgufInfo:
    """Metadata and tensor sizes of a GGUF file, from its header alone (the tensor data is never read).

    Raises:
        BadInputError: not a GGUF file, truncated, or malformed.
    """
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

    header, end = _read_header(path)
    metadata = header.metadata
    vocab = header.array_lengths.get("tokenizer.ggml.tokens")
    elements = data_bytes = experts = 0
    by_type: dict[str, int] = {}
    el_by_type: dict[str, int] = {}
    embd_shape: tuple[int, ...] = ()
    groups: dict[str, int] = {}
    for name, ne, type_id, offset in header.tensors:
        try:
            ggml_type = GGMLQuantizationType(type_id)
        except ValueError:
            raise BadInputError(f"{path}: malformed GGUF (tensor {name} has unknown type {type_id})") from None
        block, type_size = GGML_QUANT_SIZES[ggml_type]
        n = 1
        for d in ne:
            n *= d
        if n % block:
            raise BadInputError(f"{path}: malformed GGUF (tensor {name}: {n:,} elements is not a whole number of "
                                f"{ggml_type.name} blocks of {block})")
        b = n // block * type_size
        if header.data_start + offset + b > end:
            raise BadInputError(f"{path}: truncated GGUF (tensor {name} ends past the end of the file)")
        group = tensor_group(name)
        groups[group] = groups.get(group, 0) + n
        elements += n
        data_bytes += b
        by_type[ggml_type.name] = by_type.get(ggml_type.name, 0) + b
        el_by_type[ggml_type.name] = el_by_type.get(ggml_type.name, 0) + n
        if "_exps" in name:
            experts += n
        if name == "token_embd.weight":
            embd_shape = ne
    file_type = metadata.get("general.file_type")
    ftype_name: str | None
    try:
        ftype_name = LlamaFileType(file_type).name if isinstance(file_type, int) else None
    except ValueError:
        ftype_name = str(file_type)
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        raise BadInputError(f"{path}: GGUF has no general.architecture")
    model_name = metadata.get("general.name")
    return GgufInfo(path, arch, model_name if isinstance(model_name, str) else None, metadata, elements, data_bytes, by_type,
                    el_by_type, experts, ftype_name, vocab, embd_shape, groups)
