"""Torch's answers, cached: asking torch costs a child process that imports it (1-5 s), and its answers change
only when torch, the driver or the GPUs change. The cache key is the installed torch build (the bytes of its
`torch/version.py`: version, git revision, CUDA/ROCm version), the interpreter, the NVIDIA driver version, the GPU
UUIDs and the variables that decide which devices torch sees. Any change asks torch again; `--refresh` always does.

Where: `$XDG_CACHE_HOME/advisor/torch-probe.json` (else `~/.cache/advisor/`; `~/Library/Caches/advisor/` on
macOS, `%LOCALAPPDATA%\\advisor\\Cache` on Windows), written atomically with mode 0600.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

CACHE_NAME = "torch-probe.json"
CACHE_VERSION = 1
MAX_CACHE_BYTES = 1 << 20
VISIBILITY_VARS = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
                   "PYTORCH_ENABLE_MPS_FALLBACK")


def cache_dir(env: Mapping[str, str]) -> Path:
    """The platform's cache directory for advisor."""
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "advisor"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "advisor"
    if os.name == "nt" and env.get("LOCALAPPDATA"):
        return Path(env["LOCALAPPDATA"]) / "advisor" / "Cache"
    return Path.home() / ".cache" / "advisor"


def torch_build() -> str | None:
    """A digest of the installed torch build (its version.py), without importing torch; None when absent."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / "version.py"
        try:
            data = path.read_bytes()[:65536]
        except OSError:
            continue
        return hashlib.sha256(str(path).encode() + b"\0" + data).hexdigest()
    return None


def cache_key(build: str, driver: str | None, uuids: Sequence[str | None], env: Mapping[str, str]) -> str:
    parts = {"build": build, "python": sys.executable, "driver": driver, "gpus": list(uuids),
             "env": {k: env.get(k) for k in VISIBILITY_VARS}}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def load(env: Mapping[str, str], key: str) -> dict[str, Any] | None:
    """The cached raw answer for this key, or None (missing, unreadable, another key)."""
    path = cache_dir(env) / CACHE_NAME
    try:
        if not path.is_file() or path.stat().st_size > MAX_CACHE_BYTES:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("version") != CACHE_VERSION or doc.get("key") != key:
        return None
    answer = doc.get("answer")
    return answer if isinstance(answer, dict) else None


def store(env: Mapping[str, str], key: str, answer: dict[str, Any]) -> None:
    """Keep the answer for the next call; a cache that cannot be written is skipped, never an error."""
    directory = cache_dir(env)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".torch-probe.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"version": CACHE_VERSION, "key": key, "answer": answer}, fh)
            os.replace(tmp, directory / CACHE_NAME)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        return
