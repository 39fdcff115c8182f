"""Hugging Face repo ids already in the local cache. Never downloads."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from advisor.errors import BadInputError
from advisor.models.spec import ModelSpec

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def looks_like_repo_id(name: str) -> bool:
    return bool(REPO_ID.match(name)) and ".." not in name


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    from probes.system import hf_cache_dir

    return hf_cache_dir(os.environ if env is None else env)


def snapshot_dir(repo_id: str, env: Mapping[str, str] | None = None, revision: str | None = None) -> Path | None:
    """The cached snapshot folder of `repo_id` (revision "main" unless pinned), or None when it is not cached."""
    from huggingface_hub import try_to_load_from_cache

    root = cache_dir(env)
    found = try_to_load_from_cache(repo_id, "config.json", cache_dir=str(root), revision=revision)
    if isinstance(found, str):
        return Path(found).parent
    repo_dir = root / f"models--{repo_id.replace('/', '--')}"
    if revision is not None:
        pinned = repo_dir / "snapshots" / revision
        return pinned if "/" not in revision and pinned.is_dir() else None
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        from advisor.bounded import read_file

        name = read_file(ref, "ref").decode("utf-8", "replace").strip()
        snap = repo_dir / "snapshots" / name
        if name and "/" not in name and name not in (".", "..") and snap.is_dir():
            return snap
    snaps = sorted((repo_dir / "snapshots").glob("*")) if (repo_dir / "snapshots").is_dir() else []
    return snaps[-1] if len(snaps) == 1 else None


def resolve_cached(repo_id: str, env: Mapping[str, str] | None = None, revision: str | None = None) -> ModelSpec | None:
    """A ModelSpec from the cached files of `repo_id`, or None when the repo is not in the cache."""
    from advisor.models.local import resolve_directory

    snap = snapshot_dir(repo_id, env, revision)
    if snap is None:
        return None
    try:
        return resolve_directory(snap, source="hf-cache", name=repo_id)
    except BadInputError as exc:
        raise BadInputError(f"{repo_id} (in the Hugging Face cache): {exc}") from None
