"""One size check for the sub-model counters (mixers, vision towers): a positive integer below any real model's."""

from __future__ import annotations

from typing import Any

from advisor.errors import BadInputError

SIZE_LIMIT = 1 << 24


def positive_size(value: Any, name: str, source: str, what: str = "config") -> int:
    """`value` when it is a positive integer of at most 2^24, else one clear error naming `what` holds it."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= SIZE_LIMIT:
        raise BadInputError(f"{source}: {what} needs a positive integer {name} of at most {SIZE_LIMIT:,} "
                            f"(got {str(value)[:40]!r})")
    return value
