"""Which NVML devices a CUDA program started here would see, and in which order.

CUDA documents (CUDA C++ Programming Guide, "CUDA Environment Variables"): ``CUDA_DEVICE_ORDER`` is
``FASTEST_FIRST`` (default: CUDA guesses the fastest device and makes it 0, the rest unspecified) or
``PCI_BUS_ID`` (NVML's order); ``CUDA_VISIBLE_DEVICES`` is a comma-separated list of indices (in that
order), ``GPU-`` UUIDs or ``MIG-`` UUIDs (unique prefixes allowed); CUDA stops at the first invalid
entry and ignores it and everything after it. Pure: works on already-probed GPUs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from probes.abilities import parse_capability
from probes.schema import CudaVisibleDevice, Gpu


def cuda_order(gpus: Sequence[Gpu], order: Literal["FASTEST_FIRST", "PCI_BUS_ID"]) -> tuple[list[Gpu], bool]:
    """GPUs in CUDA's enumeration order, and whether that order is certain.

    Under FASTEST_FIRST we rank by compute capability, then memory, then PCI order. Among identical
    GPUs that is PCI order, which is what CUDA does in practice; among unlike GPUs it is a guess.
    """
    ordered = sorted(gpus, key=lambda g: g.index)
    if order == "PCI_BUS_ID" or len(ordered) <= 1:
        return ordered, True

    def speed(g: Gpu) -> tuple[int, int, int, int]:
        cap = parse_capability(g.compute_capability) or (0, 0)
        return (-cap[0], -cap[1], -(g.memory_total_bytes or 0), g.index)

    alike = len({(g.name, g.compute_capability, g.memory_total_bytes) for g in ordered}) == 1
    return sorted(ordered, key=speed), alike


def resolve_cuda_visible(
    gpus: Sequence[Gpu], visible: str | None, order: Literal["FASTEST_FIRST", "PCI_BUS_ID"]
) -> tuple[list[CudaVisibleDevice], bool, list[str]]:
    """Translate ``CUDA_VISIBLE_DEVICES`` into NVML devices.

    Args:
        gpus: GPUs as NVML reported them.
        visible: The variable's value, or None when unset.
        order: ``CUDA_DEVICE_ORDER``.

    Returns:
        (devices in CUDA order with their CUDA index, whether the order is certain, problem lines).
    """
    ordered, exact = cuda_order(gpus, order)
    if visible is None:
        return [CudaVisibleDevice(cuda_index=i, nvml_index=g.index, uuid=g.uuid) for i, g in enumerate(ordered)], exact, []

    errors: list[str] = []
    chosen: list[CudaVisibleDevice] = []
    seen: set[tuple[int, str | None]] = set()
    tokens = [t.strip() for t in visible.split(",")] if visible.strip() else []
    for position, token in enumerate(tokens):
        match = _match(token, ordered)
        problem = None
        if isinstance(match, str):
            problem = match
        elif (match[0].index, match[1]) in seen:
            problem = "it repeats a device already listed"
        if problem is not None:
            ignored = ", ".join(tokens[position:])
            errors.append(
                f"CUDA_VISIBLE_DEVICES entry {token!r}: {problem}; CUDA ignores it and what follows ({ignored})"
            )
            break
        assert not isinstance(match, str)
        gpu, mig_uuid = match
        seen.add((gpu.index, mig_uuid))
        chosen.append(
            CudaVisibleDevice(cuda_index=len(chosen), nvml_index=gpu.index, uuid=gpu.uuid, mig_uuid=mig_uuid)
        )
    # Only the order among the devices actually chosen by index matters for exactness.
    return chosen, exact or all(not t.isdigit() for t in tokens), errors


def _match(token: str, ordered: Sequence[Gpu]) -> tuple[Gpu, str | None] | str:
    if token.isdigit():
        n = int(token)
        if n >= len(ordered):
            return f"there is no device {n} (this machine has {len(ordered)})"
        return ordered[n], None
    lowered = token.lower()
    if lowered.startswith("gpu-"):
        hits = [g for g in ordered if g.uuid and g.uuid.lower().startswith(lowered)]
        return (hits[0], None) if len(hits) == 1 else _uuid_problem(len(hits), "GPU")
    if lowered.startswith("mig-"):
        mig_hits = [
            (g, m.uuid)
            for g in ordered
            for m in g.mig.instances
            if m.uuid and m.uuid.lower().startswith(lowered)
        ]
        return mig_hits[0] if len(mig_hits) == 1 else _uuid_problem(len(mig_hits), "MIG instance")
    return "not an index, a GPU- UUID or a MIG- UUID"


def _uuid_problem(hits: int, what: str) -> str:
    return f"matches no {what} here" if hits == 0 else f"matches {hits} devices (ambiguous prefix)"
