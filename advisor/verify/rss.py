"""The kernel's resident-size marks of this process (Linux /proc): the current size (VmRSS), the peak (VmHWM) and
the peak's reset (writing 5 to /proc/self/clear_refs sets VmHWM back to VmRSS; proc(5))."""

from __future__ import annotations

import platform
from pathlib import Path

MIB = 1024**2


def status_bytes(key: str) -> int:
    """A size line of /proc/self/status (VmRSS, VmHWM...), bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{key} not in /proc/self/status")


def reset_peak() -> None:
    """Set the peak mark back to the current resident size; raises when the kernel did not."""
    Path("/proc/self/clear_refs").write_text("5")
    if status_bytes("VmHWM") > status_bytes("VmRSS") + 64 * MIB:
        raise RuntimeError("the kernel did not reset the peak RSS mark (clear_refs 5)")


def supported() -> str | None:
    """None when this machine has the marks; otherwise why not."""
    if platform.system() != "Linux":
        return f"peak resident size is read from Linux's /proc (this is {platform.system()})"
    try:
        status_bytes("VmHWM")
    except (OSError, RuntimeError) as exc:
        return f"/proc/self/status has no VmHWM ({exc})"
    return None


def conditions(**libraries: object) -> dict[str, object]:
    """What a measurement ran under: torch's version, the given libraries' (and any other fields), python, torch's
    thread count, the CPU model and the machine. Imports torch: for measuring processes only."""
    import torch

    return {"torch": torch.__version__, **libraries, "python": platform.python_version(),
            "threads": torch.get_num_threads(), "cpu": cpu_model(), "machine": platform.machine()}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
