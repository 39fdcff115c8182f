"""Printing sizes for people: binary GiB, labelled. (Parsing lives in advisor.units.)"""

from __future__ import annotations

GIB = 1024**3


def gib(n: int | float | None, digits: int = 1) -> str:
    """Bytes as GiB, labelled; "unknown" for None."""
    if n is None:
        return "unknown"
    return f"{n / GIB:.{digits}f} GiB"
