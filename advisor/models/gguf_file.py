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
_STRING, _ARRAY = 8, 9
MAX_DIMS = 8


def _check_fixed_header(path: Path) -> None:
    """Walk the whole GGUF header (metadata and tensor infos) with every length checked against the bytes left,
    before the gguf library reads it: a count that the file cannot hold (an array claiming 2**40 elements in a
    1 KB file) is refused at once instead of looping or allocating."""
    from advisor.bounded import open_regular

    try:
        with open_regular(path, "GGUF") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < 24:
                raise BadInputError(f"{path}: not a GGUF file (no GGUF magic)")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                _walk_header(path, view, size)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:  # mmap of an empty or special file
        raise BadInputError(f"{path}: cannot map: {exc}") from exc


def _walk_header(path: Path, view: mmap.mmap, size: int) -> None:
    head = view[:24]
    if head[:4] != b"GGUF":
        raise BadInputError(f"{path}: not a GGUF file (no GGUF magic)")
    version, tensors, kvs = struct.unpack("<IQQ", head[4:24])
    if version not in (2, 3):
        raise BadInputError(f"{path}: GGUF version {version} is not supported (2 or 3)")
    if tensors > MAX_TENSORS or kvs > MAX_KV:
        raise BadInputError(f"{path}: absurd header ({tensors} tensors, {kvs} metadata keys)")
    pos = 24

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

    def string(what: str) -> None:
        nonlocal pos
        n = u64()
        need(n, what)
        pos += n

    def value(kind: int, depth: int) -> None:
        nonlocal pos
        if kind in _SCALAR:
            need(_SCALAR[kind], "a value")
            pos += _SCALAR[kind]
        elif kind == _STRING:
            string("a string")
        elif kind == _ARRAY and depth < 2:
            inner, count = u32(), u64()
            least = _SCALAR.get(inner, 8)  # a string or an array takes at least its 8-byte length
            need(count * least, f"an array of {count:,} elements")
            if inner in _SCALAR:
                pos += count * least
            else:
                for _ in range(count):
                    value(inner, depth + 1)
        else:
            raise BadInputError(f"{path}: malformed GGUF (unknown value type {kind})")

    for _ in range(kvs):
        string("a metadata key")
        value(u32(), 0)
    for _ in range(tensors):
        string("a tensor name")
        dims = u32()
        if not 1 <= dims <= MAX_DIMS:
            raise BadInputError(f"{path}: malformed GGUF (a tensor with {dims} dimensions)")
        need(8 * dims + 12, "a tensor's shape")
        pos += 8 * dims + 12


def read_gguf(path: Path) -> GgufInfo:
    """Metadata and tensor sizes of a GGUF file.

    Raises:
        BadInputError: not a GGUF file, truncated, or malformed.
    """
    _check_fixed_header(path)
    try:
        from gguf import GGUFReader, LlamaFileType

        reader = GGUFReader(str(path), "r")
        metadata: dict[str, Any] = {}
        vocab = None
        for key, fld in reader.fields.items():
            if key.startswith("GGUF."):
                continue
            if key == "tokenizer.ggml.tokens":
                vocab = len(fld.data)
                continue
            if key.startswith("tokenizer."):
                continue  # large arrays we do not need
            metadata[key] = fld.contents()
        elements = data_bytes = experts = 0
        by_type: dict[str, int] = {}
        el_by_type: dict[str, int] = {}
        embd_shape: tuple[int, ...] = ()
        groups: dict[str, int] = {}
        for tensor in reader.tensors:
            group = tensor_group(tensor.name)
            groups[group] = groups.get(group, 0) + int(tensor.n_elements)
            type_name = tensor.tensor_type.name
            n, b = int(tensor.n_elements), int(tensor.n_bytes)
            elements += n
            data_bytes += b
            by_type[type_name] = by_type.get(type_name, 0) + b
            el_by_type[type_name] = el_by_type.get(type_name, 0) + n
            if "_exps" in tensor.name:
                experts += n
            if tensor.name == "token_embd.weight":
                embd_shape = tuple(int(d) for d in tensor.shape)
        end = os.path.getsize(path)
        for tensor in reader.tensors:
            if int(tensor.data_offset) + int(tensor.n_bytes) > end:
                raise BadInputError(f"{path}: truncated GGUF (tensor {tensor.name} ends past the end of the file)")
        file_type = metadata.get("general.file_type")
        try:
            ftype_name = LlamaFileType(file_type).name if file_type is not None else None
        except ValueError:
            ftype_name = str(file_type)
    except BadInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - the library raises many kinds on malformed input
        raise BadInputError(f"{path}: malformed GGUF ({type(exc).__name__}: {exc})") from None
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        raise BadInputError(f"{path}: GGUF has no general.architecture")
    name = metadata.get("general.name")
    return GgufInfo(path, arch, name if isinstance(name, str) else None, metadata, elements, data_bytes, by_type,
                    el_by_type, experts, ftype_name, vocab, embd_shape, groups)
