"""The config a model is built from: the catalog's stored config, or the config.json of a directory, the Hugging
Face cache or what was read from the Hub (cached). Never a file's weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rules.spec import ModelSpec

MAX_CONFIG_BYTES = 4 * 1024 * 1024


def config_for(spec: ModelSpec) -> dict[str, Any] | None:
    """The model's config as a dict, or None when advisor holds none (a GGUF or safetensors file alone, a size
    read from a name)."""
    if spec.source == "catalog":
        from advisor.models import catalog
        from advisor.models.quant_names import split_quant

        for name in (spec.name, (spec.location or "").removeprefix("catalog:")):
            entry = catalog.find(name) if name else None
            if entry is None and name and (q := split_quant(name)) is not None:
                entry = catalog.find(q.base)
            if entry is not None and isinstance(entry.get("config"), dict):
                return dict(entry["config"])
        return None
    if spec.source in ("directory", "hf-cache") and spec.location:
        return _read(Path(spec.location) / "config.json")
    if spec.source == "hub" and spec.location:
        from advisor.models.hf_cache import snapshot_dir

        repo, _, rev = spec.name.partition("@")
        snap = snapshot_dir(repo, None, rev or None)
        return _read(snap / "config.json") if snap is not None else None
    return None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_CONFIG_BYTES:
            return None
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
