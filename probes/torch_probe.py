"""PyTorch's view of the accelerators (optional). torch is imported only in a child process.

``torch.cuda`` queries can create a CUDA context (hundreds of MiB held until exit), and
``import torch`` costs more than a second, so the advisor's own process never imports torch: the
child script ``torch_child.py`` answers in JSON within a time limit.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from probes.abilities import abilities_for
from probes.schema import TorchDevice, TorchSection

DEFAULT_TIMEOUT_S = 30.0
_CHILD = Path(__file__).with_name("torch_child.py")


def torch_installed() -> bool:
    """True when ``import torch`` would find a module (without importing it)."""
    return importlib.util.find_spec("torch") is not None


def probe_torch(timeout_s: float = DEFAULT_TIMEOUT_S, env: dict[str, str] | None = None,
                cache: tuple[Mapping[str, str], str | None, Sequence[str | None], bool] | None = None) -> TorchSection:
    """Ask torch, in a child process, which backends and devices it can use (or its cached answer).

    Args:
        timeout_s: Seconds to wait for the child before giving up.
        env: Environment of the child (default: this process's).
        cache: (environment, NVIDIA driver version, GPU UUIDs, refresh) to use the answer cache of
            probes/torch_cache.py; None asks torch every time.

    Returns:
        A ``TorchSection``; ``unavailable`` with a reason when torch is missing or fails.
    """
    if env is None and not torch_installed():
        return TorchSection(
            status="unavailable",
            errors=["torch is not installed (optional: pip install 'local-advisor[torch]')"],
        )
    key = None
    if cache is not None:
        from probes import torch_cache

        cache_env, driver, uuids, refresh = cache
        build = torch_cache.torch_build()
        if build is not None:
            key = torch_cache.cache_key(build, driver, uuids, cache_env)
            hit = None if refresh else torch_cache.load(cache_env, key)
            if hit is not None:
                return parse_torch_answer(hit)
    raw = _ask_child(timeout_s, env)
    if isinstance(raw, TorchSection):
        return raw
    if cache is not None and key is not None:
        from probes import torch_cache

        torch_cache.store(cache[0], key, raw)
    return parse_torch_answer(raw)


def _ask_child(timeout_s: float, env: dict[str, str] | None) -> dict[str, Any] | TorchSection:
    """The child's raw answer, or the section saying why there is none."""
    try:
        done = subprocess.run(
            [sys.executable, str(_CHILD)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return TorchSection(status="unavailable", installed=True,
                            errors=[f"torch did not answer within {timeout_s:g} s"])
    except OSError as exc:
        return TorchSection(status="unavailable", errors=[f"torch probe could not start: {exc}"])
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit code {done.returncode}"
        missing = "No module named 'torch'" in done.stderr
        return TorchSection(
            status="unavailable",
            installed=not missing,
            errors=["torch is not installed" if missing else f"torch failed: {last}"],
        )
    try:
        raw = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return TorchSection(status="unavailable", installed=True, errors=["torch probe printed no JSON answer"])
    if not isinstance(raw, dict):
        return TorchSection(status="unavailable", installed=True, errors=["torch probe printed no JSON object"])
    return raw


def kernel_support(capability: tuple[int, int], arch_list: list[str]) -> str:
    """Does this torch build ship kernels for the device?

    A cubin for sm_XY runs on any X.Y' with Y' >= Y (same major); PTX for compute_XY is JIT-compiled on
    any later device. Otherwise CUDA kernels will fail to launch.
    """
    major, minor = capability
    cubins = [a[3:] for a in arch_list if a.startswith("sm_")]
    ptx = [a[8:] for a in arch_list if a.startswith("compute_")]

    def split(code: str) -> tuple[int, int] | None:
        digits = code.rstrip("abf")
        return (int(digits[:-1]), int(digits[-1])) if digits.isdigit() and len(digits) >= 2 else None

    if any((c := split(code)) and c[0] == major and c[1] <= minor for code in cubins):
        return "native"
    if any((c := split(code)) and c <= capability for code in ptx):
        return "ptx-jit"
    return "missing"


def parse_torch_answer(raw: dict[str, Any]) -> TorchSection:
    """Turn the child's raw answers into a TorchSection (pure; tests feed it fake answers)."""
    errors: list[str] = []
    is_rocm = bool(raw.get("hip"))
    backend = "rocm" if is_rocm else "cuda"
    backends = ["cpu"]
    devices: list[TorchDevice] = []
    arch_list = [str(a) for a in raw.get("arch_list") or []]
    if raw.get("cuda_available"):
        backends.append(backend)
    for dev in raw.get("devices") or []:
        if "error" in dev:
            errors.append(f"torch device {dev.get('index')}: {dev['error']}")
            continue
        major, minor = dev.get("major"), dev.get("minor")
        cap = (int(major), int(minor)) if major is not None and minor is not None else None
        devices.append(TorchDevice(
            index=int(dev["index"]),
            backend=backend,
            name=dev.get("name"),
            total_memory_bytes=dev.get("total_memory"),
            compute_capability=f"{cap[0]}.{cap[1]}" if cap else None,
            abilities=abilities_for(cap) if cap and not is_rocm else None,
            kernels=kernel_support(cap, arch_list) if cap and arch_list and not is_rocm else None,
        ))
    if raw.get("mps_available"):
        backends.append("mps")
        devices.append(TorchDevice(index=0, backend="mps", name="Apple MPS",
                                   total_memory_bytes=raw.get("mps_recommended_max")))
    if raw.get("xpu_available"):
        backends.append("xpu")
        devices.extend(TorchDevice(index=int(d["index"]), backend="xpu", name=d.get("name"))
                       for d in raw.get("xpu_devices") or [])
    return TorchSection(
        status="partial" if errors else "ok",
        errors=errors,
        installed=True,
        version=raw.get("version"),
        cuda_version=raw.get("cuda"),
        hip_version=raw.get("hip"),
        backends=backends,
        arch_list=arch_list,
        devices=devices,
        mps_recommended_max_bytes=raw.get("mps_recommended_max"),
    )
