"""Exact parameter counts from a config.json, for every architecture in architectures.py.

One function walks one decoder (or encoder) described by data: embeddings, per layer attention (standard
or multi-head latent), norms, dense MLP or mixture of experts, the final norm and the output head. Vision
towers of multimodal configs are counted as their own part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from advisor.errors import BadInputError
from advisor.models.architectures import ARCHITECTURES, KEYS, Arch


@dataclass(frozen=True)
class Counted:
    """Parameters and the architecture facts the memory model needs."""

    total: int
    active: int
    groups: dict[str, int]
    extra: dict[str, int] = field(default_factory=dict)  # stored in checkpoints but not loaded (MTP)
    layers: int = 0
    hidden: int = 0
    heads: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    intermediate: int = 0
    vocab: int = 0
    context: int | None = None
    windows: tuple[int | None, ...] = ()  # per layer: sliding window in tokens, None = global
    mla: dict[str, int] | None = None
    experts: int | None = None
    experts_per_token: int | None = None
    tied_embeddings: bool = False
    text_model_type: str = ""


def pick(cfg: dict[str, Any], meaning: str, default: Any = None) -> Any:
    for key in KEYS[meaning]:
        if cfg.get(key) is not None:
            return cfg[key]
    return default


# Physical limits no real model is near (the largest published: ~200 layers, hidden 25,600, vocab 262,144,
# 1,024 experts, 10 M tokens of context): a value past them is a broken or hostile config, refused before any
# loop or allocation sized by it.
BOUNDS = {"hidden": 1 << 20, "layers": 4096, "heads": 1 << 16, "kv_heads": 1 << 16, "vocab": 1 << 24,
          "intermediate": 1 << 24, "head_dim": 1 << 16, "context": 1 << 30, "experts": 1 << 16}
DEFAULT_BOUND = 1 << 31
MAX_PARAMS = 10**14  # 100 T parameters


def _bounded(value: Any, name: str, source: str, positive: bool, upper: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (1 if positive else 0):
        kind = "positive" if positive else "non-negative"
        shown = repr(value) if not isinstance(value, str) or len(value) <= 40 else repr(value[:40] + "...")
        raise BadInputError(f"{source}: config needs a {kind} integer {name} (got {shown[:60]})")
    if value > upper:
        raise BadInputError(f"{source}: config key {name} = {value} is beyond any real model (at most {upper:,})")
    return value


def _int(cfg: dict[str, Any], meaning: str, source: str, default: int | None = None) -> int:
    value = pick(cfg, meaning, default)
    name = " / ".join(KEYS[meaning]) if value is None or value is default else next(
        k for k in KEYS[meaning] if cfg.get(k) is not None)
    return _bounded(value, name, source, True, BOUNDS.get(meaning, DEFAULT_BOUND))


def _opt_int(cfg: dict[str, Any], meaning: str, source: str) -> int | None:
    """A positive integer the config may leave out (None then)."""
    value = pick(cfg, meaning)
    if value is None:
        return None
    return _int(cfg, meaning, source)


def _pos_int(cfg: dict[str, Any], key: str, source: str, default: int = 0) -> int:
    value = cfg.get(key, default)
    if value is None:
        return default
    return _bounded(value, key, source, False, BOUNDS.get(key, DEFAULT_BOUND))


def sliding_layout(cfg: dict[str, Any], arch: Arch, layers: int) -> tuple[int | None, ...]:
    """Per layer, the sliding window (tokens) or None for global attention."""
    window = cfg.get("sliding_window")
    types = cfg.get("layer_types")
    if isinstance(types, list) and len(types) == layers and isinstance(window, int):
        return tuple(window if t == "sliding_attention" else None for t in types)
    if not isinstance(window, int) or window <= 0 or arch.window is None:
        return (None,) * layers
    if arch.window == "all":
        return (window,) * layers
    if arch.window == "qwen":
        if not cfg.get("use_sliding_window", False):
            return (None,) * layers
        first = int(cfg.get("max_window_layers", 0) or 0)
        return tuple(window if i >= first else None for i in range(layers))
    if arch.window == "alternate":
        return tuple(window if i % 2 == 0 else None for i in range(layers))
    if arch.window == "pattern":
        pattern = int(cfg.get("sliding_window_pattern", 6) or 6)
        return tuple(window if (i + 1) % pattern != 0 else None for i in range(layers))
    return (None,) * layers


def count_text(cfg: dict[str, Any], arch: Arch, source: str, head_class: str | None = None) -> Counted:
    """Count a text decoder (or BERT encoder) described by `cfg`.

    Raises:
        BadInputError: when a size the count needs is missing or not a positive integer.
    """
    h = _int(cfg, "hidden", source)
    n_layers = _int(cfg, "layers", source)
    nh = _int(cfg, "heads", source)
    vocab = _int(cfg, "vocab", source)
    kv = pick(cfg, "kv_heads") or nh
    if arch.family == "falcon":
        if cfg.get("new_decoder_architecture"):
            kv = cfg.get("num_kv_heads") or nh
        else:
            kv = 1 if cfg.get("multi_query", True) else nh
    kv = _bounded(kv, "num_key_value_heads", source, True, BOUNDS["kv_heads"])
    if kv > nh:
        raise BadInputError(f"{source}: num_key_value_heads = {kv} exceeds num_attention_heads = {nh}")
    head_dim = _bounded(cfg.get("head_dim") or h // nh or 1, "head_dim", source, True, BOUNDS["head_dim"])
    inter = _opt_int(cfg, "intermediate", source) or 4 * h
    biased = any(cfg.get(k) for k in arch.bias_keys)
    qkv_bias = arch.qkv_bias or biased
    o_bias = arch.o_bias or biased
    mlp_bias = arch.mlp_bias or bool(cfg.get("mlp_bias")) or (biased and arch.family == "falcon")

    def norm(n: int) -> int:
        return 2 * n if arch.norm == "layer" else n

    def dense_mlp(width: int) -> int:
        if arch.mlp == "gated":
            return 3 * h * width + ((2 * width + h) if mlp_bias else 0)
        return 2 * h * width + ((width + h) if mlp_bias else 0)

    groups = {"embeddings": vocab * h, "attention": 0, "mlp": 0, "experts": 0, "shared_experts": 0, "router": 0,
              "norms": 0, "lm_head": 0}
    if arch.positions_key:
        groups["positions"] = _pos_int(cfg, arch.positions_key, source) * h
    if arch.family == "bert":
        groups["positions"] = groups.get("positions", 0) + _pos_int(cfg, "type_vocab_size", source, 2) * h
        groups["norms"] += norm(h)  # embeddings LayerNorm

    # Attention, per layer.
    mla = None
    if arch.attention == "mla":
        q_rank = cfg.get("q_lora_rank")
        kv_rank = _pos_int(cfg, "kv_lora_rank", source)
        nope = _pos_int(cfg, "qk_nope_head_dim", source)
        rope = _pos_int(cfg, "qk_rope_head_dim", source)
        v_dim = _pos_int(cfg, "v_head_dim", source)
        if not (kv_rank and nope and v_dim):
            raise BadInputError(f"{source}: MLA config needs kv_lora_rank, qk_nope_head_dim and v_head_dim")
        q = h * q_rank + q_rank + q_rank * nh * (nope + rope) if q_rank else h * nh * (nope + rope)
        attn = q + h * (kv_rank + rope) + kv_rank + kv_rank * nh * (nope + v_dim) + nh * v_dim * h
        if o_bias:
            attn += h
        mla = {"kv_lora_rank": kv_rank, "qk_rope_head_dim": rope, "qk_nope_head_dim": nope, "v_head_dim": v_dim,
               "q_lora_rank": q_rank or 0}
        head_dim = nope + rope
    else:
        attn = h * nh * head_dim + 2 * h * kv * head_dim + nh * head_dim * h
        if qkv_bias:
            attn += nh * head_dim + 2 * kv * head_dim
        if o_bias:
            attn += h
        if arch.qk_norm == "head":
            attn += 2 * head_dim
        elif arch.qk_norm == "full":
            attn += nh * head_dim + kv * head_dim
        if arch.family == "phi" and cfg.get("qk_layernorm"):
            attn += 2 * norm(head_dim)

    norms_per_layer = arch.norms_per_layer
    if arch.family == "falcon":
        if cfg.get("new_decoder_architecture"):
            norms_per_layer = int(cfg.get("num_ln_in_parallel_attn") or 2)
        else:
            norms_per_layer = 1 if cfg.get("parallel_attn", True) else 2

    # Mixture of experts, per layer.
    experts = top_k = None
    expert_size = shared = router = 0
    sparse = [False] * n_layers
    if arch.moe == "mixtral":
        experts, top_k = _pos_int(cfg, "num_local_experts", source), _pos_int(cfg, "num_experts_per_tok", source)
        expert_size, router = 3 * h * inter, h * experts
        sparse = [bool(experts)] * n_layers
    elif arch.moe == "qwen":
        experts, top_k = _pos_int(cfg, "num_experts", source), _pos_int(cfg, "num_experts_per_tok", source)
        expert_size = 3 * h * _pos_int(cfg, "moe_intermediate_size", source)
        router = h * experts
        shared_inter = _pos_int(cfg, "shared_expert_intermediate_size", source)
        shared = 3 * h * shared_inter + h if shared_inter else 0
        step = int(cfg.get("decoder_sparse_step", 1) or 1)
        dense_only = set(cfg.get("mlp_only_layers") or [])
        sparse = [bool(experts) and i not in dense_only and (i + 1) % step == 0 for i in range(n_layers)]
    elif arch.moe == "deepseek":
        experts, top_k = _pos_int(cfg, "n_routed_experts", source), _pos_int(cfg, "num_experts_per_tok", source)
        moe_inter = _pos_int(cfg, "moe_intermediate_size", source)
        expert_size = 3 * h * moe_inter
        router = experts * h + (experts if cfg.get("topk_method") == "noaux_tc" else 0)
        n_shared = _pos_int(cfg, "n_shared_experts", source)
        shared = 3 * h * moe_inter * n_shared
        first_dense = _pos_int(cfg, "first_k_dense_replace", source)
        freq = int(cfg.get("moe_layer_freq", 1) or 1)
        sparse = [bool(experts) and i >= first_dense and i % freq == 0 for i in range(n_layers)]

    active_experts = 0
    for is_sparse in sparse:
        groups["attention"] += attn
        groups["norms"] += norms_per_layer * norm(h)
        if is_sparse:
            groups["experts"] += (experts or 0) * expert_size
            groups["shared_experts"] += shared
            groups["router"] += router
            active_experts += (top_k or 0) * expert_size
        else:
            groups["mlp"] += dense_mlp(inter)

    tied = bool(cfg.get("tie_word_embeddings", arch.tied_default))
    head = head_class or arch.head_class
    if arch.family == "bert":
        groups.update(_bert_heads(cfg, h, vocab, norm, head))
    else:
        groups["norms"] += norm(h)  # final norm
        groups["lm_head"] = (0 if tied else vocab * h) + (vocab if arch.lm_head_bias else 0)

    extra = {}
    mtp_layers = _pos_int(cfg, "num_nextn_predict_layers", source)
    if mtp_layers and arch.moe == "deepseek":
        # Each MTP module: one MoE decoder layer, its own embedding and head copies, eh_proj, three norms.
        layer = attn + 2 * norm(h) + (experts or 0) * expert_size + shared + router
        extra["mtp"] = mtp_layers * (layer + 2 * vocab * h + 2 * h * h + 3 * norm(h))

    groups = {k: v for k, v in groups.items() if v}
    total = sum(groups.values())
    return Counted(
        total=total,
        active=total - groups.get("experts", 0) + active_experts,
        groups=groups,
        extra=extra,
        layers=n_layers,
        hidden=h,
        heads=nh,
        kv_heads=kv,
        head_dim=head_dim,
        intermediate=inter,
        vocab=vocab,
        context=_opt_int(cfg, "context", source),
        windows=sliding_layout(cfg, arch, n_layers),
        mla=mla,
        experts=experts or None,
        experts_per_token=top_k or None,
        tied_embeddings=tied,
        text_model_type=arch.family,
    )


def _bert_heads(cfg: dict[str, Any], h: int, vocab: int, norm: Any, head: str) -> dict[str, int]:
    pooler = h * h + h
    mlm = h * h + h + norm(h) + vocab  # transform dense + LayerNorm + decoder bias (decoder weight tied)
    labels = len(cfg.get("id2label") or {}) or 2
    return {
        "BertModel": {"pooler": pooler},
        "BertForMaskedLM": {"lm_head": mlm},
        "BertForPreTraining": {"pooler": pooler, "lm_head": mlm + 2 * h + 2},
        "BertForSequenceClassification": {"pooler": pooler, "lm_head": h * labels + labels},
    }.get(head, {"pooler": pooler})


def count_vision(cfg: dict[str, Any], source: str) -> int:
    """A SigLIP or CLIP vision transformer: patch and position embeddings, layers, final norm."""
    vh = _int(cfg, "hidden", source)
    layers = _int(cfg, "layers", source)
    inter = pick(cfg, "intermediate") or 4 * vh
    patch = _pos_int(cfg, "patch_size", source, 14)
    image = _pos_int(cfg, "image_size", source, 224)
    channels = _pos_int(cfg, "num_channels", source, 3)
    clip = cfg.get("model_type") == "clip_vision_model"
    patches = (image // patch) ** 2 if patch else 0
    total = channels * patch * patch * vh + (0 if clip else vh)
    total += (patches + (1 if clip else 0)) * vh
    if clip:
        total += vh + 2 * vh  # class embedding, pre-layernorm
    per_layer = 2 * 2 * vh + 4 * (vh * vh + vh) + (vh * inter + inter) + (inter * vh + vh)
    return total + layers * per_layer + 2 * vh


def count_config(cfg: dict[str, Any], source: str) -> Counted:
    """Count any supported config, multimodal wrappers included (text + vision + projector), and check that the
    result is one a real model could have.

    Raises:
        BadInputError: unknown architecture, a size missing, out of bounds or inconsistent.
    """
    counted = _count_config(cfg, source)
    check_counted(counted, source)
    return counted


def check_counted(c: Counted, source: str) -> None:
    """Consistency no real config breaks: more experts active than there are, more active parameters than in
    total, a count past physical limits."""
    if c.experts_per_token is not None and c.experts is not None and c.experts_per_token > c.experts:
        raise BadInputError(f"{source}: num_experts_per_tok = {c.experts_per_token} exceeds the {c.experts} experts")
    if c.experts_per_token is not None and c.experts is None:
        raise BadInputError(f"{source}: num_experts_per_tok = {c.experts_per_token} without any experts")
    if not 0 < c.total <= MAX_PARAMS or not 0 < c.active <= c.total:
        raise BadInputError(f"{source}: the config describes {c.total:,} parameters ({c.active:,} active): not a real "
                            "model")
    if any(v < 0 for v in c.groups.values()):
        raise BadInputError(f"{source}: the config gives a negative parameter count")


def _count_config(cfg: dict[str, Any], source: str) -> Counted:
    model_type = cfg.get("model_type")
    text_cfg = cfg.get("text_config")
    if isinstance(text_cfg, dict):
        text_type = text_cfg.get("model_type") or {"gemma3": "gemma3_text"}.get(str(model_type), "llama")
        if text_type == "gemma3" or (model_type == "gemma3" and text_type != "gemma3_text"):
            text_type = "gemma3_text"
        arch = ARCHITECTURES.get(text_type)
        if arch is None:
            raise BadInputError(f"{source}: text model type {text_type!r} is not supported ({supported()})")
        text = count_text({**text_cfg, "tie_word_embeddings": cfg.get("tie_word_embeddings",
                                                                      text_cfg.get("tie_word_embeddings",
                                                                                   arch.tied_default))},
                          arch, source)
        groups = dict(text.groups)
        vision_cfg = cfg.get("vision_config")
        if isinstance(vision_cfg, dict):
            groups["vision"] = count_vision(vision_cfg, source)
            vh = pick(vision_cfg, "hidden")
            if model_type == "gemma3":
                groups["projector"] = vh * text.hidden + vh  # input projection + soft-embedding norm
            else:  # LLaVA-style two-layer MLP projector
                groups["projector"] = vh * text.hidden + text.hidden + text.hidden * text.hidden + text.hidden
        total = sum(groups.values())
        return Counted(**{**text.__dict__, "groups": groups, "total": total,
                          "active": total - text.total + text.active})
    if not isinstance(model_type, str) or model_type not in ARCHITECTURES:
        raise BadInputError(f"{source}: model_type {model_type!r} is not supported ({supported()})")
    archs = cfg.get("architectures")
    head = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else None
    return count_text(cfg, ARCHITECTURES[model_type], source, head)


def supported() -> str:
    return "supported: " + ", ".join(sorted(ARCHITECTURES))
