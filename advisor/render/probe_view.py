"""The human view of a snapshot: GPUs with memory bars and processes, RAM, CPU, disk, abilities, gaps."""

from __future__ import annotations

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from advisor.units import gib
from probes.schema import Abilities, Gpu, Snapshot

BAR_WIDTH = 16


def memory_bar(used: int | None, total: int | None, width: int = BAR_WIDTH) -> Text:
    """A bar of used memory against total; '?' when either is unknown."""
    if not used and used != 0 or not total:
        return Text("?" * 3, style="dim")
    filled = min(width, round(width * used / total))
    bar = Text()
    bar.append("█" * filled, style="red" if used / total > 0.9 else "yellow" if used / total > 0.5 else "green")
    bar.append("░" * (width - filled), style="dim")
    return bar


def abilities_text(ab: Abilities | None) -> str:
    if ab is None:
        return "unknown"
    names = [n for n, ok in (("BF16", ab.bf16), ("FP16", ab.fp16), ("FP8", ab.fp8), ("FP4", ab.fp4),
                             ("INT8-TC", ab.int8_tensor_cores)) if ok]
    return " ".join(names) or "none"


def _gpu_rows(table: Table, gpu: Gpu) -> None:
    cuda = f"cuda:{gpu.cuda_index}" if gpu.cuda_index is not None else "hidden"
    used = gpu.memory_used_bytes
    if used is None and gpu.memory_total_bytes is not None and gpu.memory_free_bytes is not None:
        used = gpu.memory_total_bytes - gpu.memory_free_bytes
    if gpu.unified_memory:
        memory = f"unified: {gib(gpu.memory_free_bytes)} of system RAM available"
    else:
        memory = f"{gib(gpu.memory_free_bytes)} free of {gib(gpu.memory_total_bytes)}"
    bar = memory_bar(used, gpu.memory_total_bytes)
    bar.append(f" {memory}")
    table.add_row(
        f"{gpu.index} ({cuda})",
        gpu.name or "unknown",
        gpu.compute_capability or "?",
        bar,
        abilities_text(gpu.abilities),
    )
    if gpu.mig.enabled:
        for inst in gpu.mig.instances:
            profile = (inst.name or "").rpartition("MIG ")[2] or inst.uuid or "?"
            table.add_row("", f"  MIG {inst.index}: {profile}", "",
                          f"{gib(inst.memory_free_bytes)} free of {gib(inst.memory_total_bytes)}", "")
    if gpu.processes is None:
        table.add_row("", Text("  processes: unknown (NVML could not list them)", style="dim"), "", "", "")
    for proc in gpu.processes or []:
        held = gib(proc.used_memory_bytes, 2) if proc.used_memory_bytes is not None else "unknown"
        table.add_row("", Text(f"  pid {proc.pid} {proc.name or '?'} ({proc.kind})", style="dim"), "",
                      Text(f"holds {held}", style="dim"), "")


def render_snapshot(snap: Snapshot, console: Console) -> None:
    """Print the snapshot for a person."""
    host = snap.host
    console.print(Text(f"{host.hostname} · {host.os} {host.os_release or ''} · probed {snap.taken_at}",
                       style="bold"))
    nv = snap.nvml
    if snap.gpus:
        versions = f"driver {nv.driver_version or '?'}, CUDA {nv.cuda_driver_version or '?'}"
        table = Table(title=f"NVIDIA GPUs ({versions})", title_justify="left", expand=False)
        for col in ("GPU", "name", "CC", "memory", "native"):
            table.add_column(col, no_wrap=col in ("GPU", "memory"))
        for gpu in snap.gpus:
            _gpu_rows(table, gpu)
        console.print(table)
        if nv.cuda_visible_devices is not None:
            console.print(f"CUDA_VISIBLE_DEVICES={nv.cuda_visible_devices!r}: a CUDA program here sees "
                          f"{len(nv.cuda_visible)} GPU(s)")
        if not nv.cuda_order_exact:
            console.print("CUDA's fastest-first order among these unlike GPUs is a guess; "
                          "set CUDA_DEVICE_ORDER=PCI_BUS_ID to make it exact")
    else:
        console.print(Text(f"NVIDIA GPUs: none ({nv.status})", style="bold"))

    mem = snap.memory
    ram = Table.grid(padding=(0, 2))
    ram.add_column(style="bold")
    ram.add_column()
    used_ram = (mem.total_bytes - mem.available_bytes) if mem.total_bytes and mem.available_bytes else None
    ram_line = memory_bar(used_ram, mem.total_bytes)
    ram_line.append(f" {gib(mem.available_bytes)} available of {gib(mem.total_bytes)}")
    ram.add_row("RAM", ram_line)
    if mem.cgroup is not None:
        limit = gib(mem.cgroup.limit_bytes) if mem.cgroup.limit_bytes is not None else "no limit"
        ram.add_row("cgroup", f"v{mem.cgroup.version} limit {limit}, usage {gib(mem.cgroup.usage_bytes)}; "
                              f"usable {gib(mem.effective_available_bytes)}")
    if mem.swap_total_bytes:
        ram.add_row("swap", f"{gib(mem.swap_free_bytes)} free of {gib(mem.swap_total_bytes)}")
    cpu = snap.cpu
    cores = f"{cpu.physical_cores or '?'} cores / {cpu.logical_cores or '?'} threads"
    if cpu.cgroup_cpu_limit is not None:
        cores += f", limited to {cpu.cgroup_cpu_limit:g} by cgroup"
    ram.add_row("CPU", f"{cpu.model or 'unknown'} ({cpu.architecture or '?'}), {cores}")
    ram.add_row("ISA", " ".join(cpu.flags) or "none of note")
    disk = snap.disk
    ram.add_row("disk", f"{gib(disk.free_bytes)} free at {disk.path}" + ("" if disk.exists else " (not created yet)"))
    tor = snap.torch
    if tor.installed:
        extra = f", CUDA {tor.cuda_version}" if tor.cuda_version else f", HIP {tor.hip_version}" if tor.hip_version else ""
        ram.add_row("torch", f"{tor.version}{extra}; backends: {', '.join(tor.backends) or 'none'}")
        for dev in tor.devices:
            if dev.kernels == "missing":
                ram.add_row("", Text(f"{dev.backend}:{dev.index} {dev.name}: this torch has no kernels for "
                                     f"compute capability {dev.compute_capability}", style="red"))
    for acc in snap.accelerators.devices:
        size = f", {gib(acc.memory_total_bytes)}" if acc.memory_total_bytes else ""
        ram.add_row("accel", f"{acc.name}{size}" + (f" at {acc.path}" if acc.path else ""))
    console.print(ram)

    problems = [
        (name, line)
        for name, section in (("nvml", nv), ("memory", mem), ("cpu", cpu), ("disk", disk), ("torch", tor),
                              ("accelerators", snap.accelerators))
        for line in section.errors
    ]
    if problems:
        lines = [Text("Could not read:", style="bold yellow")]
        lines += [Text(f"  {name}: {line}") for name, line in problems]
        console.print(Group(*lines))
