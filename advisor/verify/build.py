"""A model from its config with random weights, on the device it will run on: no file read, no model code run.

The model is constructed by transformers' own class for the config's model type (`AutoConfig.for_model`, never
`trust_remote_code`), with weight initialisation switched off: every parameter starts as uninitialised memory
(`torch.empty`) on the target device, and is then filled from a small pool of N(0, 0.02) values in the target
dtype, so the resident size after building is the weights', as after loading a checkpoint, and no temporaries are
left behind. Constructing on the meta device and materialising with `to_empty` would lose the buffers computed at
construction (the rotary embedding's inverse frequencies are not in the weights), so the target device is used
directly; nothing is initialised twice.
"""

from __future__ import annotations

from typing import Any

# config keys that would make transformers load or run something, or that a random build must not take over
_DROPPED = ("auto_map", "quantization_config", "torch_dtype", "dtype", "transformers_version", "_name_or_path")


class NotBuildable(Exception):
    """The installed transformers cannot build this config (an unknown model type, a config it rejects)."""


def transformers_config(config: dict[str, Any]) -> Any:
    import transformers

    cfg = {k: v for k, v in config.items() if k not in _DROPPED}
    model_type = cfg.pop("model_type", None)
    if not isinstance(model_type, str):
        raise NotBuildable("the config has no model_type")
    try:
        return transformers.AutoConfig.for_model(model_type, **cfg)
    except (ValueError, KeyError, TypeError) as exc:
        raise NotBuildable(f"transformers {transformers.__version__} cannot build a {model_type} config "
                           f"({str(exc).splitlines()[0][:160]})") from None


def _no_init() -> Any:
    import importlib

    try:
        module: Any = importlib.import_module("transformers.initialization")  # transformers >= 5
    except ImportError:  # pragma: no cover - transformers 4.x
        module = importlib.import_module("transformers.modeling_utils")
    return module.no_init_weights()


def causal_lm(config: dict[str, Any], dtype_name: str, device: str, attn_implementation: str = "sdpa") -> Any:
    """The causal LM of `config` with random weights in `dtype_name` ("float32", "bfloat16", "float16") on
    `device` ("cpu", "cuda:0"), tied embeddings tied, in eval mode."""
    import importlib

    import torch

    transformers: Any = importlib.import_module("transformers")
    cfg = transformers_config(config)
    dtype = getattr(torch, dtype_name)
    try:
        with _no_init(), torch.device(device):
            net = transformers.AutoModelForCausalLM.from_config(cfg, dtype=dtype, attn_implementation=attn_implementation,
                                                                trust_remote_code=False)
    except ValueError as exc:
        raise NotBuildable(f"transformers {transformers.__version__} has no causal LM for {cfg.model_type} "
                           f"({str(exc).splitlines()[0][:160]})") from None
    net.tie_weights()
    fill_from_pool(net, dtype)
    net.eval()
    return net


def fill_from_pool(net: Any, dtype: Any) -> None:
    """Every parameter filled from a small pool of N(0, 0.02) values in `dtype` on the parameter's device: no
    temporaries, so the resident size after building is the weights', as after loading a checkpoint."""
    import torch

    gen = torch.Generator().manual_seed(0)
    pools: dict[Any, Any] = {}
    with torch.no_grad():
        for p in net.parameters():
            pool = pools.get(p.device)
            if pool is None:
                pool = pools[p.device] = (torch.randn(1 << 20, generator=gen) * 0.02).to(dtype=dtype, device=p.device)
            flat = p.view(-1)
            for start in range(0, flat.numel(), pool.numel()):
                n = min(pool.numel(), flat.numel() - start)
                flat[start:start + n].copy_(pool[:n].to(p.dtype))


def tensor_bytes(tensors: Any) -> int:
    """Bytes of these tensors (a model's parameters, or its buffers), each storage counted once (tied weights
    share one)."""
    seen: set[int] = set()
    total = 0
    for t in tensors:
        key = t.untyped_storage().data_ptr()
        if key in seen:
            continue
        seen.add(key)
        total += t.untyped_storage().nbytes()
    return total


def cache_bytes(cache: Any) -> int:
    """Bytes of a generate() cache's tensors (keys, values and any recurrent state), each storage once."""
    import torch

    seen: set[int] = set()
    total = 0

    def add(obj: Any, depth: int = 0) -> None:
        nonlocal total
        if torch.is_tensor(obj):
            if obj.device.type == "meta" or obj.numel() == 0:
                return
            key = obj.untyped_storage().data_ptr()
            if key not in seen:
                seen.add(key)
                total += obj.untyped_storage().nbytes()
        elif depth < 4 and isinstance(obj, (list, tuple)):
            for item in obj:
                add(item, depth + 1)
        elif depth < 4 and isinstance(obj, dict):
            for item in obj.values():
                add(item, depth + 1)
        elif depth < 4 and hasattr(obj, "__dict__"):
            for item in vars(obj).values():
                add(item, depth + 1)

    add(cache)
    return total
