"""One table for parsing sizes people type, one for printing them. Inside, everything is bytes."""

from __future__ import annotations

import re

from advisor.errors import BadInputError
from rules.units import gib

__all__ = ["GIB", "MIB", "gib", "parse_size"]

GIB = 1024**3
MIB = 1024**2

_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "kib": 1024,
    "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
    "g": 1000**3, "gb": 1000**3, "gib": 1024**3,
    "t": 1000**4, "tb": 1000**4, "tib": 1024**4,
}
_SIZE = re.compile(r"(\d{1,15}(?:\.\d{1,9})?) ?([a-zA-Z]{0,3})")


def parse_size(text: str) -> int:
    """Parse "24GiB", "80GB", "512 MiB" or a plain byte count into bytes.

    Raises:
        BadInputError: for anything else.
    """
    cleaned = text.strip()
    match = _SIZE.fullmatch(cleaned) if len(cleaned) <= 40 else None
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        shown = cleaned if len(cleaned) <= 40 else cleaned[:40] + "..."
        raise BadInputError(f"not a size: {shown!r} (use e.g. 24GiB, 80GB, 512MiB)")
    return int(float(match.group(1)) * _UNITS[unit])


