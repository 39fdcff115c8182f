"""Shell completion of option values: model names and aliases (catalog and the Hugging Face cache), precisions,
engines, KV cache types, GPU and device names, snapshot files. Each function takes what was typed so far."""

from __future__ import annotations

from pathlib import Path


def _starting(values: list[str], incomplete: str) -> list[str]:
    low = incomplete.lower()
    return sorted({v for v in values if v.lower().startswith(low)})[:200]


def models(incomplete: str) -> list[str]:
    from advisor.models import catalog
    from advisor.models.hf_cache import cache_dir

    names = []
    for e in catalog.entries():
        names += [e["name"], *e.get("aliases", [])]
        if e.get("hf_repo"):
            names.append(e["hf_repo"])
    root = cache_dir()
    if root.is_dir():
        names += [p.name[len("models--"):].replace("--", "/") for p in root.glob("models--*")]
    return _starting(names, incomplete)


def precisions(incomplete: str) -> list[str]:
    from rules.precisions import known_names

    return _starting(["auto", *known_names()], incomplete)


def engines(incomplete: str) -> list[str]:
    from rules import engines as registry
    from rules.runtimes import EMBEDDING_RUNTIMES, NAMES, SPEECH_RUNTIMES

    others = [n for n in (*NAMES, *SPEECH_RUNTIMES, *EMBEDDING_RUNTIMES, "diffusers") if n not in registry.NAMES]
    return _starting(["auto", *registry.NAMES, *dict.fromkeys(others)], incomplete)


def kv_dtypes(incomplete: str) -> list[str]:
    from rules.precisions import KV_BYTES

    return _starting(["auto", *KV_BYTES], incomplete)


def gpu_names(incomplete: str) -> list[str]:
    from rules.gpu_table import gpus

    return _starting([n for e in gpus() for n in (e["name"], *e.get("aliases", []))], incomplete)


def snapshot_files(incomplete: str) -> list[str]:
    base = Path(incomplete).expanduser()
    folder = base if incomplete.endswith("/") else base.parent
    try:
        found = [str(p) + ("/" if p.is_dir() else "") for p in folder.iterdir()
                 if p.is_dir() or p.suffix in (".json", ".jsonl", ".ndjson")]
    except OSError:
        return []
    return _starting(found, incomplete)[:100]
