"""Runs in a short-lived child process: imports torch, prints its raw answers as one JSON line.

Kept self-contained (standard library + torch) so it runs as a plain script. Asking torch about CUDA
devices may create a CUDA context; doing it here keeps that cost out of the advisor's own process.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _safe(fn: Any, default: Any = None) -> Any:
    try:
        return fn()
    except Exception:  # noqa: BLE001 - any backend fault means "not available"
        return default


def collect(torch: Any) -> dict[str, Any]:
    """Raw answers from a torch module (a real one, or a test's stand-in)."""
    version = getattr(torch, "version", None)
    raw: dict[str, Any] = {
        "version": str(getattr(torch, "__version__", "")) or None,
        "cuda": getattr(version, "cuda", None),
        "hip": getattr(version, "hip", None),
        "cuda_available": bool(_safe(torch.cuda.is_available, False)),
        "arch_list": list(_safe(torch.cuda.get_arch_list, []) or []),
        "devices": [],
    }
    if raw["cuda_available"]:
        for i in range(int(_safe(torch.cuda.device_count, 0) or 0)):
            props = _safe(lambda i=i: torch.cuda.get_device_properties(i))
            if props is None:
                raw["devices"].append({"index": i, "error": "get_device_properties failed"})
                continue
            raw["devices"].append({
                "index": i,
                "name": getattr(props, "name", None),
                "total_memory": getattr(props, "total_memory", None),
                "major": getattr(props, "major", None),
                "minor": getattr(props, "minor", None),
            })
    mps = getattr(getattr(torch, "backends", None), "mps", None)
    raw["mps_available"] = bool(_safe(mps.is_available, False)) if mps is not None else False
    if raw["mps_available"]:
        raw["mps_recommended_max"] = _safe(torch.mps.recommended_max_memory)
    xpu: Any = getattr(torch, "xpu", None)
    raw["xpu_available"] = bool(_safe(xpu.is_available, False)) if xpu is not None else False
    if raw["xpu_available"]:
        raw["xpu_devices"] = [
            {"index": i, "name": _safe(lambda i=i: xpu.get_device_name(i))}
            for i in range(int(_safe(xpu.device_count, 0) or 0))
        ]
    return raw


def main() -> int:
    import torch

    sys.stdout.write(json.dumps(collect(torch)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
