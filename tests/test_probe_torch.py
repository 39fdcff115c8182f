"""The torch probe: fake torch answers in-process, a fake torch package in the real child process,
and the real CPU-only torch where installed."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from probes.torch_child import collect
from probes.torch_probe import kernel_support, parse_torch_answer, probe_torch

FAKES = Path(__file__).parent / "fakes"


def fake_torch(**over):
    cuda = SimpleNamespace(
        is_available=lambda: True,
        device_count=lambda: 1,
        get_arch_list=lambda: ["sm_80", "sm_86", "sm_90", "compute_90"],
        get_device_properties=lambda i: SimpleNamespace(name="NVIDIA GeForce RTX 3090", total_memory=25_438_126_080,
                                                        major=8, minor=6),
    )
    torch = SimpleNamespace(__version__="2.4.0+cu121", version=SimpleNamespace(cuda="12.1", hip=None), cuda=cuda,
                            backends=SimpleNamespace(mps=SimpleNamespace(is_available=lambda: False)))
    for k, v in over.items():
        setattr(torch, k, v)
    return torch


def test_cuda_build_answers():
    section = parse_torch_answer(collect(fake_torch()))
    assert section.status == "ok" and section.installed
    assert section.version == "2.4.0+cu121" and section.cuda_version == "12.1"
    assert section.backends == ["cpu", "cuda"]
    (dev,) = section.devices
    assert dev.compute_capability == "8.6" and dev.kernels == "native"
    assert dev.abilities is not None and dev.abilities.bf16 and not dev.abilities.fp8


def test_native_bf16_from_capability_not_emulation():
    # torch.cuda.is_bf16_supported() says True on a T4 (emulated); we decide from 7.5.
    cuda = fake_torch().cuda
    cuda.get_device_properties = lambda i: SimpleNamespace(name="Tesla T4", total_memory=15 * 2**30, major=7, minor=5)
    cuda.is_bf16_supported = lambda: True
    dev = parse_torch_answer(collect(fake_torch(cuda=cuda))).devices[0]
    assert dev.abilities is not None and dev.abilities.bf16 is False


@pytest.mark.parametrize(
    ("cap", "arch", "expected"),
    [
        ((8, 6), ["sm_80"], "native"),  # sm_80 cubin runs on 8.6 (same major)
        ((9, 0), ["sm_80", "compute_80"], "ptx-jit"),
        ((12, 0), ["sm_80", "sm_90"], "missing"),  # Blackwell on an old wheel
        ((10, 0), ["sm_90", "sm_100"], "native"),
        ((9, 0), ["sm_90a"], "native"),
    ],
)
def test_kernel_support(cap, arch, expected):
    assert kernel_support(cap, arch) == expected


def test_mps_and_rocm():
    mps_torch = fake_torch(
        cuda=SimpleNamespace(is_available=lambda: False, get_arch_list=lambda: []),
        backends=SimpleNamespace(mps=SimpleNamespace(is_available=lambda: True)),
        mps=SimpleNamespace(recommended_max_memory=lambda: 22_906_503_168),
    )
    section = parse_torch_answer(collect(mps_torch))
    assert section.backends == ["cpu", "mps"]
    assert section.mps_recommended_max_bytes == 22_906_503_168
    rocm = fake_torch(version=SimpleNamespace(cuda=None, hip="6.2.41133"))
    section = parse_torch_answer(collect(rocm))
    assert section.backends == ["cpu", "rocm"] and section.devices[0].backend == "rocm"
    assert section.devices[0].abilities is None  # NVIDIA capability tables do not apply


def test_device_properties_failure_is_reported():
    cuda = fake_torch().cuda
    cuda.get_device_properties = lambda i: (_ for _ in ()).throw(RuntimeError("CUDA error: unknown"))
    section = parse_torch_answer(collect(fake_torch(cuda=cuda)))
    assert section.status == "partial" and section.errors == ["torch device 0: get_device_properties failed"]


def child_env(pythonpath: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(pythonpath)
    return env


def test_child_process_with_fake_cuda_torch():
    section = probe_torch(timeout_s=60, env=child_env(FAKES / "torch_cuda"))
    assert section.status == "ok", section.errors
    assert section.version == "2.5.1+cu124"
    assert [d.name for d in section.devices] == ["NVIDIA L4", "Tesla T4"]
    assert section.devices[0].abilities is not None and section.devices[0].abilities.fp8


def test_child_process_without_torch(tmp_path):
    # A directory shadowing torch with a module that fails to import, as a missing torch does.
    (tmp_path / "torch.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\")\n")
    section = probe_torch(timeout_s=60, env=child_env(tmp_path))
    assert section.status == "unavailable" and section.errors == ["torch is not installed"]


def test_child_process_broken_torch(tmp_path):
    (tmp_path / "torch.py").write_text("raise OSError('libcudart.so.12: cannot open shared object file')\n")
    section = probe_torch(timeout_s=60, env=child_env(tmp_path))
    assert section.status == "unavailable"
    assert section.errors == ["torch failed: OSError: libcudart.so.12: cannot open shared object file"]


def test_child_process_hang_is_time_bounded(tmp_path):
    (tmp_path / "torch.py").write_text("import time\ntime.sleep(30)\n")
    section = probe_torch(timeout_s=0.5, env=child_env(tmp_path))
    assert section.status == "unavailable" and section.errors == ["torch did not answer within 0.5 s"]


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="needs the torch extra")
def test_real_cpu_only_torch():
    section = probe_torch(timeout_s=120)
    assert section.status == "ok", section.errors
    assert section.installed and "cpu" in section.backends and "cuda" not in section.backends
    assert section.devices == []
    import importlib.metadata

    assert section.version == importlib.metadata.version("torch")
    assert "torch" not in sys.modules  # our process never imported it


def _fake_torch_build(root: Path, counter: Path, version: str) -> Path:
    """A fake torch package with a version.py (its build), counting every import into `counter`."""
    pkg = root / "torch"
    pkg.mkdir(parents=True, exist_ok=True)
    source = (FAKES / "torch_cuda" / "torch" / "__init__.py").read_text()
    (pkg / "__init__.py").write_text(f"open({str(counter)!r}, 'a').write('x')\n" + source)
    (pkg / "version.py").write_text(f"__version__ = {version!r}\ncuda = '12.4'\ngit_version = 'abc'\n")
    return root


def test_torch_answers_are_cached_per_build_driver_and_gpus(tmp_path, monkeypatch):
    import importlib

    counter = tmp_path / "imports"
    root = _fake_torch_build(tmp_path / "site", counter, "2.5.1+cu124")
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    cache_env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    env = child_env(root)

    def ask(driver="550.54.15", uuids=("GPU-a", "GPU-b"), refresh=False, extra=None):
        section = probe_torch(timeout_s=60, env=env, cache=({**cache_env, **(extra or {})}, driver, list(uuids), refresh))
        assert section.status == "ok" and [d.name for d in section.devices] == ["NVIDIA L4", "Tesla T4"]
        return len(counter.read_text()) if counter.exists() else 0

    assert ask() == 1  # cold: the child imported torch
    assert ask() == 1  # warm: the same build, driver and GPUs answer from the cache
    assert ask(driver="580.65.06") == 2  # a driver change asks torch again
    assert ask(driver="580.65.06") == 2
    assert ask(driver="580.65.06", uuids=("GPU-a",)) == 3  # a GPU gone
    assert ask(driver="580.65.06", uuids=("GPU-a",), extra={"CUDA_VISIBLE_DEVICES": "0"}) == 4
    assert ask(driver="580.65.06", uuids=("GPU-a",), refresh=True) == 5  # --refresh
    (root / "torch" / "version.py").write_text("__version__ = '2.6.0+cu126'\ncuda = '12.6'\n")  # torch upgraded
    assert ask(driver="580.65.06", uuids=("GPU-a",)) == 6
    cache_file = tmp_path / "cache" / "advisor" / "torch-probe.json"
    assert cache_file.stat().st_mode & 0o777 == 0o600
    cache_file.write_text("{not json")  # a damaged cache is asked again, never an error
    assert ask(driver="580.65.06", uuids=("GPU-a",)) == 7
