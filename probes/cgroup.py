"""Container memory and CPU limits from cgroup files (v2 unified hierarchy, or v1).

psutil reports the host's memory even inside a container limited to a fraction of it; the kernel
enforces the cgroup limit. Reads only small text files under a root that tests can point elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from probes.schema import Cgroup

# cgroup v1 writes "no limit" as the largest page-aligned int64 (9223372036854771712); anything this
# large is "unlimited".
_UNLIMITED = 1 << 62


@dataclass(frozen=True)
class CgroupReading:
    memory: Cgroup | None
    cpu_limit_cores: float | None
    errors: tuple[str, ...] = ()


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _int_or_none(text: str | None) -> int | None:
    if text is None or text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= _UNLIMITED else value


def _stat_value(text: str | None, key: str) -> int | None:
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


def _own_paths(proc_cgroup: str) -> tuple[str | None, str | None]:
    """(v2 path, v1 memory-controller path) from /proc/self/cgroup."""
    v2 = v1 = None
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v2, v1


def _candidates(base: Path, rel: str) -> list[Path]:
    """The cgroup directory and its ancestors (a parent's limit binds too), inside a namespace or not."""
    rel = rel.strip("/")
    parts = [p for p in rel.split("/") if p] if rel else []
    dirs = [base.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]
    return [d for d in dirs if d.is_dir()] or [base]


def read_cgroup(root: Path = Path("/"), proc_cgroup_path: Path | None = None) -> CgroupReading:
    """Read this process's cgroup memory limit, usage, reclaimable cache and CPU quota.

    Args:
        root: Filesystem root holding ``sys/fs/cgroup`` (tests pass a temporary directory).
        proc_cgroup_path: The ``/proc/self/cgroup`` file (default under ``root``).

    Returns:
        A ``CgroupReading``; ``memory`` is None when no cgroup memory controller is found.
    """
    fs = root / "sys" / "fs" / "cgroup"
    proc_text = _read(proc_cgroup_path or root / "proc" / "self" / "cgroup")
    if proc_text is None:
        if not fs.is_dir():
            return CgroupReading(None, None)
        proc_text = "0::/"
    v2_rel, v1_rel = _own_paths(proc_text)
    errors: list[str] = []

    if v2_rel is not None and (fs / "cgroup.controllers").exists():
        dirs = _candidates(fs, v2_rel)
        own = dirs[0]
        limits = [(d, _read(d / "memory.max")) for d in dirs]
        readable = [(d, t) for d, t in limits if t is not None]
        errors.extend(
            f"cgroup: cannot read {d / 'memory.max'}" for d, t in limits if t is None and (d / "memory.max").exists()
        )
        if not readable and not errors and not (own / "memory.current").exists():
            return CgroupReading(None, _v2_cpu(dirs))
        values = [(d, _int_or_none(t)) for d, t in readable]
        bounded = [(v, d) for d, v in values if v is not None]
        limit = min(bounded)[0] if bounded else None
        usage = _int_or_none(_read(own / "memory.current"))
        if usage is None:
            errors.append(f"cgroup: cannot read {own / 'memory.current'}")
        inactive = _stat_value(_read(own / "memory.stat"), "inactive_file")
        memory = Cgroup(
            version=2, path=v2_rel, limit_bytes=limit, usage_bytes=usage, reclaimable_bytes=inactive
        )
        return CgroupReading(memory, _v2_cpu(dirs), tuple(errors))

    mem_fs = fs / "memory"
    if mem_fs.is_dir():
        dirs = _candidates(mem_fs, v1_rel or "/")
        own = dirs[0]
        raw = _read(own / "memory.limit_in_bytes")
        if raw is None:
            errors.append(f"cgroup: cannot read {own / 'memory.limit_in_bytes'}")
        limit = _int_or_none(raw)
        stat = _read(own / "memory.stat")
        hierarchical = _int_or_none(str(_stat_value(stat, "hierarchical_memory_limit")))
        if hierarchical is not None:
            limit = hierarchical if limit is None else min(limit, hierarchical)
        usage = _int_or_none(_read(own / "memory.usage_in_bytes"))
        memory = Cgroup(
            version=1,
            path=v1_rel or "/",
            limit_bytes=limit,
            usage_bytes=usage,
            reclaimable_bytes=_stat_value(stat, "total_inactive_file"),
        )
        return CgroupReading(memory, _v1_cpu(fs), tuple(errors))
    return CgroupReading(None, None)


def _v2_cpu(dirs: list[Path]) -> float | None:
    quotas = []
    for d in dirs:
        quota, _, period = (_read(d / "cpu.max") or "max").partition(" ")
        if quota != "max" and quota.isdigit() and period.strip().isdigit() and int(period) > 0:
            quotas.append(int(quota) / int(period))
    return min(quotas) if quotas else None


def _v1_cpu(fs: Path) -> float | None:
    for sub in ("cpu", "cpu,cpuacct"):
        quota = _read(fs / sub / "cpu.cfs_quota_us")
        period = _read(fs / sub / "cpu.cfs_period_us")
        if quota and period and quota.lstrip("-").isdigit() and period.isdigit():
            if int(quota) > 0 and int(period) > 0:
                return int(quota) / int(period)
    return None


def headroom_bytes(cgroup: Cgroup) -> int | None:
    """Bytes this cgroup may still allocate: limit - (usage - reclaimable page cache)."""
    if cgroup.limit_bytes is None:
        return None
    used = (cgroup.usage_bytes or 0) - (cgroup.reclaimable_bytes or 0)
    return max(0, cgroup.limit_bytes - max(0, used))
