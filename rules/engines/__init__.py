"""The engine registry: one module per engine, one line each here. Adding an engine = one module + one line
(plus its settings module in advisor/launch/, tests and docs)."""

from __future__ import annotations

from rules.engines.base import Engine, Reservation, Target
from rules.engines.llamacpp import LlamaCpp, Ollama
from rules.engines.sglang import SGLang
from rules.engines.tensorrt_llm import TensorRTLLM
from rules.engines.transformers import Transformers
from rules.engines.vllm import VLLM
from rules.precisions import Precision

REGISTRY: dict[str, Engine] = {e.name: e for e in (
    VLLM(),
    SGLang(),
    TensorRTLLM(),
    Transformers(),
    LlamaCpp(),
    Ollama(),
)}
NAMES: tuple[str, ...] = tuple(REGISTRY)
ALIASES = {"llamacpp": "llama.cpp", "llama-cpp": "llama.cpp", "trtllm": "tensorrt-llm", "trt-llm": "tensorrt-llm",
           "hf": "transformers"}


def get(name: str) -> Engine:
    """The engine called `name` (raises KeyError for an unknown one; validate names first)."""
    return REGISTRY[ALIASES.get(name, name)]


def canonical(name: str) -> str:
    """The registered spelling of an engine name people type ("llamacpp" -> "llama.cpp"), or the name unchanged."""
    key = name.strip().lower()
    return ALIASES.get(key, key)


def running(precision: Precision) -> tuple[str, ...]:
    """Names of the engines that run this precision, in registry order."""
    return tuple(n for n, e in REGISTRY.items() if e.runs(precision))


def training_engines() -> tuple[str, ...]:
    return tuple(n for n, e in REGISTRY.items() if e.trains)


__all__ = ["ALIASES", "NAMES", "REGISTRY", "Engine", "Reservation", "Target", "canonical", "get", "running", "training_engines"]
