"""Tables of named things shipped as package data (the model catalog, the GPU table): looked up by name or
alias through a normalizing key, with the closest names offered when nothing matches."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any


def load_package_list(package: str, path: str, key: str) -> tuple[dict[str, Any], ...]:
    """The list under `key` in a JSON file shipped inside `package`."""
    text = resources.files(package).joinpath(path).read_text(encoding="utf-8")
    return tuple(json.loads(text)[key])


class NameIndex:
    """Entries by every name they answer to (first entry wins a shared name), keyed by `normalize`."""

    def __init__(self, entries: Iterable[dict[str, Any]], names: Callable[[dict[str, Any]], list[str]],
                 normalize: Callable[[str], str]) -> None:
        self.normalize = normalize
        self.by_key: dict[str, dict[str, Any]] = {}
        for entry in entries:
            for name in names(entry):
                self.by_key.setdefault(normalize(name), entry)

    def get(self, name: str) -> dict[str, Any] | None:
        return self.by_key.get(self.normalize(name))

    def near(self, name: str, n: int = 3, substrings: bool = False) -> list[str]:
        """Display names of the entries closest to `name`, best first."""
        key = self.normalize(name)
        hits = difflib.get_close_matches(key, list(self.by_key), n=12, cutoff=0.5)
        if substrings and key:
            hits += [k for k in self.by_key if key in k][:12]
        out: list[str] = []
        for hit in hits:
            display = self.by_key[hit]["name"]
            if display not in out:
                out.append(display)
        return out[:n]
