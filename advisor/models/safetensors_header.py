"""Read a .safetensors header (8-byte little-endian length + JSON) without touching the tensor data.

Bounded: the header length is checked against a cap and the file size before anything is read, and every
entry is validated (dtype, shape, offsets inside the data area, byte length matching the shape).
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from advisor.errors import BadInputError

MAX_TENSORS = 1_000_000
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the largest real headers are a few MiB

# Bits per element of each safetensors dtype (safetensors format specification).
DTYPE_BITS = {
    "F64": 64, "F32": 32, "F16": 16, "BF16": 16, "I64": 64, "I32": 32, "I16": 16, "I8": 8, "U64": 64, "U32": 32,
    "U16": 16, "U8": 8, "BOOL": 8, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8, "F6_E2M3": 6, "F6_E3M2": 6, "F4": 4,
}


@dataclass(frozen=True)
class SafetensorsHeader:
    path: Path
    elements: int
    data_bytes: int
    bytes_by_dtype: dict[str, int]
    elements_by_dtype: dict[str, int]
    tensor_shapes: dict[str, tuple[int, ...]]
    metadata: dict[str, str]


def read_header(path: Path) -> SafetensorsHeader:
    """Parse and validate the header of one safetensors file.

    Raises:
        BadInputError: naming the file and what is wrong with it.
    """
    from advisor.bounded import open_regular

    try:
        with open_regular(path, "safetensors") as handle:
            size = os.fstat(handle.fileno()).st_size
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise BadInputError(f"{path}: too short to be a safetensors file ({size} bytes)")
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER_BYTES:
                raise BadInputError(f"{path}: header length {length} bytes is absurd (limit {MAX_HEADER_BYTES})")
            if length > size - 8:
                raise BadInputError(f"{path}: truncated (header says {length} bytes, file has {size - 8} after the length)")
            raw = handle.read(length)
    except OSError as exc:
        raise BadInputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadInputError(f"{path}: header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise BadInputError(f"{path}: header is not a JSON object")
    return _validate(path, header, data_area=size - 8 - length)


def _validate(path: Path, header: dict[str, Any], data_area: int) -> SafetensorsHeader:
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise BadInputError(f"{path}: __metadata__ is not an object")
    elements = 0
    data_bytes = 0
    by_dtype: dict[str, int] = {}
    elements_by_dtype: dict[str, int] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    spans: list[tuple[int, int, str]] = []
    if len(header) > MAX_TENSORS:
        raise BadInputError(f"{path}: {len(header):,} tensors in one header is beyond any real checkpoint")
    for name, info in header.items():
        where = f"{path}: tensor {name!r}"
        if not isinstance(info, dict):
            raise BadInputError(f"{where}: entry is not an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in DTYPE_BITS:
            raise BadInputError(f"{where}: unknown dtype {dtype!r}")
        if not isinstance(shape, list) or len(shape) > 8 or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise BadInputError(f"{where}: shape must be a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(
            isinstance(o, int) and not isinstance(o, bool) for o in offsets
        )):
            raise BadInputError(f"{where}: data_offsets must be [begin, end]")
        begin, end = offsets
        if not 0 <= begin <= end <= data_area:
            raise BadInputError(f"{where}: data_offsets {offsets} fall outside the {data_area}-byte data area")
        numel = math.prod(shape)
        expected = (numel * DTYPE_BITS[dtype] + 7) // 8
        if end - begin != expected:
            raise BadInputError(f"{where}: {end - begin} bytes stored, shape {shape} of {dtype} needs {expected}")
        elements += numel
        data_bytes += end - begin
        by_dtype[dtype] = by_dtype.get(dtype, 0) + end - begin
        elements_by_dtype[dtype] = elements_by_dtype.get(dtype, 0) + numel
        shapes[name] = tuple(shape)
        spans.append((begin, end, name))
    spans.sort()
    for (b1, e1, n1), (b2, _e2, n2) in zip(spans, spans[1:], strict=False):
        if b2 < e1:
            raise BadInputError(f"{path}: tensors {n1!r} and {n2!r} overlap in the data area ({b1}-{e1} and {b2}-)")
    return SafetensorsHeader(path, elements, data_bytes, by_dtype, elements_by_dtype, shapes,
                             {str(k): str(v) for k, v in metadata.items()})


def write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int]]], metadata: dict[str, str] | None = None) -> None:
    """Write a valid safetensors file of zero-filled tensors (for tests and benchmarks)."""
    header: dict[str, Any] = {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        nbytes = (math.prod(shape) * DTYPE_BITS[dtype] + 7) // 8
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(raw)))
        handle.write(raw)
        handle.truncate(8 + len(raw) + offset)
