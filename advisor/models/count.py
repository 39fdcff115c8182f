"""Exact parameter counts from a config.json, for every architecture in architectures.py.

One function walks one decoder (or encoder) described by data: embeddings, per layer attention (standard
or multi-head latent), norms, dense MLP or mixture of experts, the final norm and the output head. Vision
towers of multimodal configs are counted as their own part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from advisor.errors import BadInputError
from advisor.models import speech, towers
from advisor.models.architectures import ARCHITECTURES, KEYS, Arch
from advisor.models.mixers import Mixer, gated_deltanet, mamba1, mamba2


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
    kv_layers: tuple[int, ...] | None = None  # the layers that keep KV, when not all do (hybrid models)
    kind: str = "text-generation"  # encoders: "embedding"
    checked: bool = True  # the architecture's count is held to a published total (architectures.Arch.checked)
    state_elements: int = 0  # recurrent state per sequence, all layers (state-space and linear-attention layers)
    speech: dict[str, int] | None = None  # encoder-decoder speech models: their sizes (advisor/models/speech.py)
    tower: dict[str, Any] | None = None  # multimodal LLMs: the vision tower's geometry (rules/spec.py TowerShape)


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


def _layer_int(cfg: dict[str, Any], key: str, default: int, zero_ok: bool = False) -> int:
    """A small layer-pattern number (a period, a step; an offset when `zero_ok`): the default when absent, null or
    not a non-negative integer below 4096 (or zero where zero means nothing), so a malformed key never breaks the
    count."""
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 4096:
        return default
    return value if (value or zero_ok) else default


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
        first = _layer_int(cfg, "max_window_layers", zero_ok=True, default=0)
        return tuple(window if i >= first else None for i in range(layers))
    if arch.window == "alternate":
        return tuple(window if i % 2 == 0 else None for i in range(layers))
    if arch.window == "pattern":
        pattern = _layer_int(cfg, "sliding_window_pattern", 6)
        return tuple(window if (i + 1) % pattern != 0 else None for i in range(layers))
    return (None,) * layers


def count_text(cfg: dict[str, Any], arch: Arch, source: str, head_class: str | None = None) -> Counted:
    """Count a text decoder (or BERT encoder) described by `cfg`.

    Raises:
        BadInputError: when a size the count needs is missing or not a positive integer.
    """
    h = _int(cfg, "hidden", source)
    n_layers = _int(cfg, "layers", source)
    nh = _int(cfg, "heads", source, 1 if arch.layout in ("mamba", "mamba2") else None)  # pure SSMs: no attention
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
    o_bias = arch.o_bias or (biased and arch.bias_keys_o)
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
    if arch.head_class == "encoder":
        types = _pos_int(cfg, "type_vocab_size", source, 2 if arch.family == "bert" else 1)
        groups["positions"] = groups.get("positions", 0) + types * h
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
        q_out = nh * head_dim * (2 if arch.gated_q else 1)
        attn = h * q_out + 2 * h * kv * head_dim + nh * head_dim * h
        if qkv_bias:
            attn += q_out + 2 * kv * head_dim
        if o_bias:
            attn += h
        qk_norm = arch.qk_norm if arch.qk_norm_key is None or cfg.get(arch.qk_norm_key) else None
        if qk_norm == "head":
            attn += 2 * head_dim
        elif qk_norm == "full":
            attn += nh * head_dim + kv * head_dim
        if arch.family == "phi" and cfg.get("qk_layernorm"):
            attn += 2 * norm(head_dim)
        if arch.sinks:
            attn += nh

    norms_per_layer = arch.norms_per_layer
    if arch.family == "falcon":
        if cfg.get("new_decoder_architecture"):
            norms_per_layer = _layer_int(cfg, "num_ln_in_parallel_attn", 2)
        else:
            norms_per_layer = 1 if cfg.get("parallel_attn", True) else 2

    moe = _moe(cfg, arch, h, inter, n_layers, source)
    layout = layer_layout(cfg, arch, n_layers, h, source)
    dense_width = moe.dense_width or inter
    kv_layers = []
    state = 0
    active_experts = 0
    for i in range(n_layers):
        mixer, ffn = layout.mixers[i], layout.ffn[i]
        if mixer == "attention":
            groups["attention"] += attn
            kv_layers.append(i)
        elif mixer == "both":  # Falcon-H1: attention and Mamba-2 side by side
            groups["attention"] += attn
            groups["mixer"] = groups.get("mixer", 0) + layout.mixer.params
            state += layout.mixer.state_elements
            kv_layers.append(i)
        elif mixer == "mixer":
            groups["mixer"] = groups.get("mixer", 0) + layout.mixer.params
            state += layout.mixer.state_elements
        groups["norms"] += layout.norms[i] * norm(h) if layout.norms else norms_per_layer * norm(h)
        if ffn == "sparse" and moe.sparse[i]:
            groups["experts"] += moe.experts * moe.expert_size
            groups["shared_experts"] += moe.shared
            groups["router"] += moe.router
            active_experts += moe.top_k * moe.expert_size
        elif ffn != "none" and arch.mlp != "none":
            groups["mlp"] += dense_mlp(dense_width)
    experts, top_k = moe.experts or None, moe.top_k or None

    tied = bool(cfg.get("tie_word_embeddings", arch.tied_default))
    head = head_class or arch.head_class
    if arch.head_class == "encoder":
        groups.update(_encoder_heads(cfg, arch, h, vocab, norm, head))
    else:
        groups["norms"] += norm(h)  # final norm
        base = head.endswith("Model") and not head.endswith("ForCausalLM")  # e.g. Qwen3Model: embeddings, no head
        groups["lm_head"] = 0 if base else (0 if tied else vocab * h) + (vocab if arch.lm_head_bias else 0)

    extra = {}
    mtp_layers = _pos_int(cfg, "num_nextn_predict_layers", source)
    moe_layer = attn + 2 * norm(h) + moe.experts * moe.expert_size + moe.shared + moe.router
    if mtp_layers and arch.moe == "deepseek":
        # Each MTP module: one MoE decoder layer, its own embedding and head copies, eh_proj, three norms.
        extra["mtp"] = mtp_layers * (moe_layer + 2 * vocab * h + 2 * h * h + 3 * norm(h))
    elif arch.family == "qwen3_next":
        # Qwen3-Next checkpoints carry one MTP layer (mtp.*, which transformers skips on load): a full-attention MoE
        # layer, its fc over [embedding; hidden] and three norms, sharing the embeddings and head.
        extra["mtp"] = (_pos_int(cfg, "mtp_num_hidden_layers", source) or 1) * (moe_layer + 2 * h * h + 3 * norm(h))

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
        experts=experts,
        experts_per_token=top_k,
        tied_embeddings=tied,
        text_model_type=arch.family,
        kv_layers=None if len(kv_layers) == n_layers else tuple(kv_layers),
        kind="embedding" if arch.head_class == "encoder" else "text-generation",
        checked=arch.checked,
        state_elements=state,
    )


@dataclass(frozen=True)
class Moe:
    experts: int = 0
    top_k: int = 0
    expert_size: int = 0  # parameters of one routed expert
    shared: int = 0  # shared expert(s) of one sparse layer, with its gate
    router: int = 0
    sparse: tuple[bool, ...] = ()
    dense_width: int = 0  # the MLP width of the dense layers of a sparse model, when it differs


def _moe(cfg: dict[str, Any], arch: Arch, h: int, inter: int, n_layers: int, source: str) -> Moe:
    """The mixture of experts of one sparse layer, and which layers are sparse."""
    if arch.moe in ("mixtral", "gpt_oss", "granite"):
        experts = _pos_int(cfg, "num_local_experts", source) or (
            _pos_int(cfg, "num_experts", source) if arch.family == "jamba" else 0)  # Jamba's key
        top_k = _pos_int(cfg, "num_experts_per_tok", source) or _pos_int(cfg, "experts_per_token", source)
        size = 3 * h * inter + ((2 * inter + h) if arch.expert_bias else 0)
        router = h * experts + (experts if arch.router_bias else 0)
        shared = shared_inter = 0
        if arch.moe == "granite":  # a shared MLP beside the experts; alone when there are no experts
            shared_inter = _pos_int(cfg, "shared_intermediate_size", source)
            shared = 3 * h * shared_inter
        sparse = [bool(experts)] * n_layers
        if arch.family == "jamba":
            period = _layer_int(cfg, "expert_layer_period", 2)
            offset = _layer_int(cfg, "expert_layer_offset", zero_ok=True, default=1)
            sparse = [bool(experts) and i % period == offset for i in range(n_layers)]
        return Moe(experts, top_k, size, shared, router, tuple(sparse), shared_inter)
    if arch.moe == "qwen":
        experts, top_k = _pos_int(cfg, "num_experts", source), _pos_int(cfg, "num_experts_per_tok", source)
        size = 3 * h * _pos_int(cfg, "moe_intermediate_size", source)
        shared_inter = _pos_int(cfg, "shared_expert_intermediate_size", source)
        shared = 3 * h * shared_inter + h if shared_inter else 0
        step = _layer_int(cfg, "decoder_sparse_step", 1)
        dense_only = set(cfg.get("mlp_only_layers") or [])
        sparse = [bool(experts) and i not in dense_only and (i + 1) % step == 0 for i in range(n_layers)]
        return Moe(experts, top_k, size, shared, h * experts, tuple(sparse), inter)
    if arch.moe == "deepseek":
        experts, top_k = _pos_int(cfg, "n_routed_experts", source), _pos_int(cfg, "num_experts_per_tok", source)
        moe_inter = _pos_int(cfg, "moe_intermediate_size", source)
        router = experts * h + (experts if arch.router_bias or cfg.get("topk_method") == "noaux_tc" else 0)
        shared = 3 * h * moe_inter * _pos_int(cfg, "n_shared_experts", source)
        first_dense = _pos_int(cfg, "first_k_dense_replace", source)
        freq = _layer_int(cfg, "moe_layer_freq", 1)
        sparse = [bool(experts) and i >= first_dense and i % freq == 0 for i in range(n_layers)]
        return Moe(experts, top_k, 3 * h * moe_inter, shared, router, tuple(sparse), inter)
    if arch.moe == "llama4":
        experts, top_k = _pos_int(cfg, "num_local_experts", source), _pos_int(cfg, "num_experts_per_tok", source, 1)
        listed = cfg.get("moe_layers")
        if isinstance(listed, list):
            on = {i for i in listed if isinstance(i, int)}
        else:
            step = _layer_int(cfg, "interleave_moe_layer_step", 1)
            on = set(range(step - 1, n_layers, step))
        sparse = [bool(experts) and i in on for i in range(n_layers)]
        dense = _pos_int(cfg, "intermediate_size_mlp", source) or inter
        return Moe(experts, top_k, 3 * h * inter, 3 * h * inter, h * experts, tuple(sparse), dense)
    if arch.moe == "nemotron_h":  # the "E" layers of the pattern: relu2 experts (up, down), one shared expert, a router
        pattern = cfg.get("hybrid_override_pattern")
        experts = _pos_int(cfg, "n_routed_experts", source) if isinstance(pattern, str) and "E" in pattern else 0
        if not experts:
            return Moe(sparse=(False,) * n_layers)
        moe_inter = _pos_int(cfg, "moe_intermediate_size", source)
        shared = 2 * h * _pos_int(cfg, "moe_shared_expert_intermediate_size", source) * _pos_int(
            cfg, "n_shared_experts", source, 1)
        # the router's e_score_correction_bias is not among the checkpoint's counted parameters (published total)
        return Moe(experts, _pos_int(cfg, "num_experts_per_tok", source), 2 * h * moe_inter, shared, h * experts,
                   tuple(c == "E" for c in str(pattern)), inter)
    return Moe(sparse=(False,) * n_layers)


@dataclass(frozen=True)
class Layout:
    mixers: tuple[str, ...]  # per layer: "attention", "mixer" (recurrent) or "both"
    ffn: tuple[str, ...]  # per layer: "sparse" (MoE where the MoE says so, else dense), "dense" or "none"
    norms: tuple[int, ...] = ()  # per layer, when it differs from the architecture's norms_per_layer
    mixer: Mixer = Mixer(0, 0)


def layer_layout(cfg: dict[str, Any], arch: Arch, n_layers: int, h: int, source: str) -> Layout:
    """Which layers attend (and keep KV), which run a recurrent mixer (and keep a state), which have an MLP."""
    every = ("sparse",) * n_layers
    if arch.layout is None:
        return Layout(("attention",) * n_layers, every)
    raw = cfg.get("layer_types")
    types: list[str] = raw if isinstance(raw, list) and all(isinstance(t, str) for t in raw) else []
    listed = len(types) == n_layers
    if arch.layout == "qwen3_next":
        if listed:
            attends = [t == "full_attention" for t in types]
        else:
            interval = _layer_int(cfg, "full_attention_interval", 4)
            attends = [(i + 1) % interval == 0 for i in range(n_layers)]
        return Layout(tuple("attention" if a else "mixer" for a in attends), every, (),
                      gated_deltanet(cfg, h, source))
    if arch.layout == "mamba":
        return Layout(("mixer",) * n_layers, ("none",) * n_layers, (), mamba1(cfg, h, source))
    if arch.layout == "mamba2":
        return Layout(("mixer",) * n_layers, ("none",) * n_layers, (), mamba2(cfg, h, "mamba2", source))
    if arch.layout == "nemotron_h":
        pattern = cfg.get("hybrid_override_pattern")
        if not isinstance(pattern, str) or len(pattern) != n_layers or set(pattern) - set("M*-E"):
            raise BadInputError(f"{source}: nemotron_h needs hybrid_override_pattern with one of M, *, - or E per "
                                "layer")
        mixers = tuple("mixer" if c == "M" else "attention" if c == "*" else "none" for c in pattern)
        ffn = tuple("dense" if c == "-" else "sparse" if c == "E" else "none" for c in pattern)
        return Layout(mixers, ffn, (1,) * n_layers, mamba2(cfg, h, "nemotron_h", source))
    if arch.layout == "granitemoehybrid":
        attends = [t == "attention" for t in types] if listed else [True] * n_layers
        return Layout(tuple("attention" if a else "mixer" for a in attends), every, (),
                      mamba2(cfg, h, "granitemoehybrid", source))
    if arch.layout == "falcon_h1":
        return Layout(("both",) * n_layers, ("dense",) * n_layers, (), mamba2(cfg, h, "falcon_h1", source))
    if arch.layout == "jamba":
        period = _layer_int(cfg, "attn_layer_period", 8)
        offset = _layer_int(cfg, "attn_layer_offset", zero_ok=True, default=4)
        mixers = tuple("attention" if i % period == offset else "mixer" for i in range(n_layers))
        return Layout(mixers, every, (), mamba1(cfg, h, source, prefix="mamba_"))
    raise BadInputError(f"{source}: unknown layer layout {arch.layout!r}")


def _encoder_heads(cfg: dict[str, Any], arch: Arch, h: int, vocab: int, norm: Any, head: str) -> dict[str, int]:
    """The head a BERT / RoBERTa checkpoint's class carries (its `architectures` entry), by the class name's end."""
    pooler = h * h + h
    mlm = h * h + h + norm(h) + vocab  # transform dense + LayerNorm + decoder bias (decoder weight tied)
    labels = len(cfg.get("id2label") or {}) or 2
    if head.endswith("ForPreTraining"):
        return {"pooler": pooler, "lm_head": mlm + 2 * h + 2}
    if head.endswith("ForMaskedLM"):
        return {"lm_head": mlm}
    if head.endswith("ForSequenceClassification"):
        if arch.family == "bert":
            return {"pooler": pooler, "lm_head": h * labels + labels}
        return {"lm_head": h * h + h + h * labels + labels}  # RoBERTa: dense + out_proj, no pooler
    return {"pooler": pooler}  # ...Model (the base encoder, as embedding models ship)


def count_config(cfg: dict[str, Any], source: str) -> Counted:
    """Count any supported config, multimodal wrappers included (text + vision + projector), and check that the
    result is one a real model could have.

    Raises:
        BadInputError: unknown architecture, a size missing, out of bounds or inconsistent.
    """
    try:
        counted = _count_config(cfg, source)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, ZeroDivisionError, OverflowError) as exc:
        # a value of the wrong kind where the layout expects another (a list for a number, a number for a list):
        # the config is malformed, and says so in one line
        why = " ".join(str(exc).split())[:120]
        raise BadInputError(f"{source}: malformed config ({type(exc).__name__}: {why})") from None
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
    if model_type == "mllama":
        return _mllama(cfg, source)
    if model_type == "phi4mm":
        return _phi4mm(cfg, source)
    if model_type == "gemma3n":
        from advisor.models import gemma3n

        groups, f = gemma3n.count(cfg, source)
        total = sum(groups.values())
        return Counted(total=total, active=total, groups=groups, layers=f["layers"], hidden=f["hidden"],
                       heads=f["heads"], kv_heads=f["kv_heads"], head_dim=f["head_dim"], intermediate=f["intermediate"],
                       vocab=f["vocab"], context=f["context"], windows=f["windows"], tied_embeddings=True,
                       text_model_type="gemma3n", kv_layers=f["kv_layers"])
    if model_type == "whisper":
        groups, s = speech.count(cfg, source)
        total = sum(groups.values())
        return Counted(total=total, active=total, groups=groups, layers=s["decoder_layers"], hidden=s["d_model"],
                       heads=s["decoder_attention_heads"], kv_heads=s["decoder_attention_heads"],
                       head_dim=s["d_model"] // s["decoder_attention_heads"], intermediate=s["decoder_ffn_dim"],
                       vocab=s["vocab_size"], context=None, tied_embeddings=True,
                       text_model_type="whisper", kind="speech", speech=s)
    if model_type in ("qwen2_vl", "qwen2_5_vl"):
        # Qwen2-VL and Qwen2.5-VL: a Qwen2 text model, its keys at the top level (older configs) or in text_config.
        base = text_cfg if isinstance(text_cfg, dict) else {k: v for k, v in cfg.items() if k != "vision_config"}
        text_cfg = {**base, "model_type": "qwen2"}
    if isinstance(text_cfg, dict):
        text_type = text_cfg.get("model_type") or {"gemma3": "gemma3_text", "llama4": "llama4_text"}.get(
            str(model_type), "llama")
        if not isinstance(text_type, str):
            raise BadInputError(f"{source}: text_config.model_type must be a name (got {str(text_type)[:40]!r})")
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
        tower = None
        if isinstance(vision_cfg, dict):
            groups["vision"], groups["projector"] = _vision(cfg, vision_cfg, str(model_type), text.hidden, source)
            tower = towers.geometry(cfg, vision_cfg, str(model_type), source)
        total = sum(groups.values())
        return Counted(**{**text.__dict__, "groups": groups, "total": total,
                          "active": total - text.total + text.active, "tower": tower})
    if not isinstance(model_type, str) or model_type not in ARCHITECTURES:
        raise BadInputError(f"{source}: model_type {model_type!r} is not supported ({supported()})")
    archs = cfg.get("architectures")
    head = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else None
    return count_text(cfg, ARCHITECTURES[model_type], source, head)


def _phi4mm(cfg: dict[str, Any], source: str) -> Counted:
    """Phi-4-multimodal (advisor/models/phi4mm.py): the Phi-3 text decoder counted as Phi-3, the rest beside it."""
    from advisor.models import phi4mm

    skip = ("audio_processor", "embd_layer", "vision_lora", "speech_lora", "auto_map")
    text = count_text({**{k: v for k, v in cfg.items() if k not in skip}, "model_type": "phi3"},
                      ARCHITECTURES["phi3"], source)
    groups = dict(text.groups)
    groups["lora_adapters"] = phi4mm.lora(cfg, text.hidden, text.heads * text.head_dim, text.kv_heads * text.head_dim,
                                          text.intermediate, text.layers, source)
    groups["vision"], groups["projector"], crop = phi4mm.vision(cfg, text.hidden, source)
    groups["audio"] = phi4mm.audio(cfg, text.hidden, source)
    total = sum(groups.values())
    return Counted(**{**text.__dict__, "groups": groups, "total": total, "active": total,
                      "text_model_type": "phi4mm", "tower": phi4mm.tower_geometry(crop, source)})


def _mllama(cfg: dict[str, Any], source: str) -> Counted:
    """Llama 3.2 Vision (MllamaForConditionalGeneration): a Llama text model whose cross_attention_layers attend to
    the image instead of the text (the same q/k/v/o and MLP shapes, plus q and k RMSNorms and two tanh gates), an
    embedding table 8 rows longer than the head, and the vision encoder. The self-attention layers keep a KV cache
    per token; the cross-attention layers keep the image's K and V, fixed per sequence (counted as its state)."""
    text_cfg, vision_cfg = cfg.get("text_config"), cfg.get("vision_config")
    if not isinstance(text_cfg, dict) or not isinstance(vision_cfg, dict):
        raise BadInputError(f"{source}: mllama needs text_config and vision_config")
    cross = text_cfg.get("cross_attention_layers")
    n_layers = _pos_int(text_cfg, "num_hidden_layers", source)
    if not isinstance(cross, list) or not all(isinstance(i, int) and 0 <= i < n_layers for i in cross):
        raise BadInputError(f"{source}: text_config.cross_attention_layers must list layer indices below "
                            f"num_hidden_layers ({n_layers})")
    text = count_text({**text_cfg, "model_type": "llama",
                       "tie_word_embeddings": cfg.get("tie_word_embeddings", text_cfg.get("tie_word_embeddings", False))},
                      ARCHITECTURES["llama"], source)
    groups = dict(text.groups)
    groups["attention"] += len(cross) * (2 * text.head_dim + 2)  # q_norm, k_norm, attention and MLP gates
    groups["embeddings"] += 8 * text.hidden  # embed_tokens has vocab_size + 8 rows
    groups["vision"], groups["projector"] = towers.mllama(vision_cfg, text.hidden, source)
    total = sum(groups.values())
    image_kv = len(cross) * 2 * text.kv_heads * text.head_dim * towers.mllama_image_tokens(vision_cfg, source)
    return Counted(**{**text.__dict__, "groups": groups, "total": total, "active": total,
                      "kv_layers": tuple(i for i in range(n_layers) if i not in set(cross)),
                      "state_elements": image_kv, "text_model_type": "mllama",
                      "tower": towers.geometry(cfg, vision_cfg, "mllama", source)})


def _vision(cfg: dict[str, Any], vision_cfg: dict[str, Any], model_type: str, text_hidden: int,
            source: str) -> tuple[int, int]:
    """(vision tower, projector) of a multimodal config, by the wrapper's model_type."""
    if model_type == "llama4":
        return towers.llama4(vision_cfg, text_hidden, source)
    if model_type in ("qwen2_vl", "qwen2_5_vl"):
        return towers.qwen2_vl(vision_cfg, text_hidden, model_type == "qwen2_5_vl", source)
    if model_type == "mistral3":
        vh = _bounded(vision_cfg.get("hidden_size"), "vision_config.hidden_size", source, True, BOUNDS["hidden"])
        merge = _pos_int(cfg, "spatial_merge_size", source, 2) or 2
        bias = bool(cfg.get("multimodal_projector_bias", False))
        return towers.pixtral(vision_cfg, source), towers.mistral3_projector(vh, text_hidden, merge, bias)
    tower = towers.siglip_clip(vision_cfg, source)
    vh = vision_cfg["hidden_size"]
    if model_type == "gemma3":
        return tower, vh * text_hidden + vh  # input projection + soft-embedding norm
    # LLaVA-style two-layer MLP projector
    return tower, vh * text_hidden + text_hidden + text_hidden * text_hidden + text_hidden


def supported() -> str:
    return "supported: " + ", ".join(sorted(ARCHITECTURES))
