"""RAM with cgroup limits, CPU flags and the cache disk, on fake /proc and /sys trees."""

from __future__ import annotations

from pathlib import Path

import psutil

from probes.cgroup import headroom_bytes, read_cgroup
from probes.system import hf_cache_dir, parse_cpuinfo, probe_disk, probe_system

GIB = 1024**3


def write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def cgroup_v2(root: Path, limit: str = str(4 * GIB), current: int = GIB, inactive: int = 256 * 1024**2) -> None:
    write(root, "proc/self/cgroup", "0::/kubepods/pod1\n")
    write(root, "sys/fs/cgroup/cgroup.controllers", "cpu memory\n")
    write(root, "sys/fs/cgroup/kubepods/pod1/memory.max", f"{limit}\n")
    write(root, "sys/fs/cgroup/kubepods/pod1/memory.current", f"{current}\n")
    write(root, "sys/fs/cgroup/kubepods/pod1/memory.stat", f"anon 1000\ninactive_file {inactive}\nactive_file 5\n")
    write(root, "sys/fs/cgroup/kubepods/pod1/cpu.max", "150000 100000\n")


def test_cgroup_v2_limit_usage_and_cpu(tmp_path):
    cgroup_v2(tmp_path)
    reading = read_cgroup(tmp_path)
    assert reading.memory is not None
    assert reading.memory.version == 2 and reading.memory.path == "/kubepods/pod1"
    assert reading.memory.limit_bytes == 4 * GIB
    assert reading.memory.usage_bytes == GIB
    # headroom = 4 GiB - (1 GiB - 256 MiB reclaimable page cache) = 3.25 GiB
    assert headroom_bytes(reading.memory) == 4 * GIB - (GIB - 256 * 1024**2)
    assert reading.cpu_limit_cores == 1.5


def test_cgroup_v2_parent_limit_binds(tmp_path):
    cgroup_v2(tmp_path, limit="max")
    write(tmp_path, "sys/fs/cgroup/kubepods/memory.max", str(2 * GIB))
    reading = read_cgroup(tmp_path)
    assert reading.memory is not None and reading.memory.limit_bytes == 2 * GIB


def test_cgroup_v2_no_limit(tmp_path):
    cgroup_v2(tmp_path, limit="max")
    reading = read_cgroup(tmp_path)
    assert reading.memory is not None and reading.memory.limit_bytes is None
    assert headroom_bytes(reading.memory) is None


def test_cgroup_v2_namespaced_root(tmp_path):
    # Inside a container the cgroup namespace shows "0::/" and the files sit at the mount root.
    write(tmp_path, "proc/self/cgroup", "0::/\n")
    write(tmp_path, "sys/fs/cgroup/cgroup.controllers", "memory\n")
    write(tmp_path, "sys/fs/cgroup/memory.max", str(8 * GIB))
    write(tmp_path, "sys/fs/cgroup/memory.current", str(GIB))
    reading = read_cgroup(tmp_path)
    assert reading.memory is not None and reading.memory.limit_bytes == 8 * GIB


def test_cgroup_v1(tmp_path):
    write(tmp_path, "proc/self/cgroup", "12:memory:/docker/abc\n11:cpu,cpuacct:/docker/abc\n")
    base = "sys/fs/cgroup/memory/docker/abc"
    write(tmp_path, f"{base}/memory.limit_in_bytes", str(6 * GIB))
    write(tmp_path, f"{base}/memory.usage_in_bytes", str(2 * GIB))
    write(tmp_path, f"{base}/memory.stat", f"total_inactive_file {GIB}\nhierarchical_memory_limit {16 * GIB}\n")
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "200000")
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000")
    reading = read_cgroup(tmp_path)
    assert reading.memory is not None
    assert (reading.memory.version, reading.memory.limit_bytes) == (1, 6 * GIB)
    assert headroom_bytes(reading.memory) == 6 * GIB - (2 * GIB - GIB)
    assert reading.cpu_limit_cores == 2.0


def test_cgroup_v1_unlimited_sentinel(tmp_path):
    write(tmp_path, "proc/self/cgroup", "4:memory:/\n")
    write(tmp_path, "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712")
    write(tmp_path, "sys/fs/cgroup/memory/memory.usage_in_bytes", "100")
    reading = read_cgroup(tmp_path)
    assert reading.memory is not None and reading.memory.limit_bytes is None


def test_no_cgroup_at_all(tmp_path):
    reading = read_cgroup(tmp_path)
    assert reading.memory is None and reading.cpu_limit_cores is None


def test_unreadable_cgroup_file_is_reported_as_directory(tmp_path):
    # Works as root too: a directory where a file should be cannot be read as text.
    cgroup_v2(tmp_path)
    (tmp_path / "sys/fs/cgroup/kubepods/pod1/memory.max").unlink()
    (tmp_path / "sys/fs/cgroup/kubepods/pod1/memory.max").mkdir()
    reading = read_cgroup(tmp_path)
    assert any("memory.max" in e for e in reading.errors)


def test_effective_available_is_min_of_host_and_cgroup(tmp_path):
    cgroup_v2(tmp_path, limit=str(2 * GIB), current=GIB, inactive=0)
    snap = probe_system(tmp_path, {"HF_HOME": str(tmp_path / "hf")})
    mem = snap.memory
    assert mem.total_bytes == psutil.virtual_memory().total
    assert mem.cgroup is not None and mem.cgroup.limit_bytes == 2 * GIB
    assert mem.effective_available_bytes == min(mem.available_bytes, GIB)


X86 = """processor\t: 0
model name\t: AMD EPYC 9654 96-Core Processor
flags\t\t: fpu sse avx avx2 fma f16c avx512f avx512_bf16 avx512_vnni amx_bf16 sha_ni
"""
ARM = """processor\t: 0
Features\t: fp asimd evtstrm aes sve sve2 asimddp i8mm bf16
CPU part\t: 0xd4f
"""


def test_cpuinfo_x86_and_arm():
    model, flags = parse_cpuinfo(X86)
    assert model == "AMD EPYC 9654 96-Core Processor"
    assert flags == ["avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16"]
    _, arm = parse_cpuinfo(ARM)
    assert arm == ["bf16", "dotprod", "i8mm", "neon", "sve", "sve2"]


def test_cpu_section_reads_fake_cpuinfo(tmp_path):
    write(tmp_path, "proc/cpuinfo", X86)
    cpu = probe_system(tmp_path, {}).cpu
    assert cpu.model == "AMD EPYC 9654 96-Core Processor"
    assert "amx_bf16" in cpu.flags
    assert cpu.logical_cores == psutil.cpu_count()


def test_hf_cache_location_precedence(tmp_path):
    assert hf_cache_dir({"HF_HUB_CACHE": "/x/hub", "HF_HOME": "/y"}) == Path("/x/hub")
    assert hf_cache_dir({"HF_HOME": "/y"}) == Path("/y/hub")
    assert hf_cache_dir({"XDG_CACHE_HOME": "/z"}) == Path("/z/huggingface/hub")


def test_disk_free_of_missing_cache_measures_parent(tmp_path):
    disk = probe_disk({"HF_HUB_CACHE": str(tmp_path / "not" / "yet")})
    assert disk.status == "ok" and disk.exists is False
    assert disk.free_bytes is not None and disk.free_bytes > 0
