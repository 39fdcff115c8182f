from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType

import pytest

from tests.fakes import fake_pynvml


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Pin the terminal width, keep caches and config out of the user's home, no colour."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    monkeypatch.setenv("ADVISOR_HOME", str(home / "advisor"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    # tests never reach the real Hub: the Hub tests start their own on loopback and lift this
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)


@pytest.fixture
def install_nvml(monkeypatch: pytest.MonkeyPatch) -> Callable[[fake_pynvml.FakeMachine], ModuleType]:
    """Install a fake `pynvml` for a simulated machine; our real probe code runs on top of it."""

    def install(machine: fake_pynvml.FakeMachine) -> ModuleType:
        module = fake_pynvml.build(machine)
        monkeypatch.setitem(sys.modules, "pynvml", module)
        return module

    return install
