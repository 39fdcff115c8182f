"""Gemma 3n (Gemma3nForConditionalGeneration), counted from its config: a text decoder with per-layer embeddings,
AltUp and Laurel blocks, and KV shared by its last layers; a Conformer audio encoder; a MobileNet-V5 vision tower;
and the two multimodal embedders.

The layout follows transformers' modeling_gemma3n.py (Gemma3nTextModel, Gemma3nTextDecoderLayer, Gemma3nTextAltUp,
Gemma3nTextLaurelBlock, Gemma3nAudioEncoder and its conformer parts, Gemma3nMultimodalEmbedder). Two facts it does
not carry in its current form: Google's checkpoints store k_proj, v_proj and k_norm on the KV-shared layers too
(recent transformers drops them at load; vLLM PR #54917: "the original Google releases happen to ship them
redundantly"), and they count in the published totals, so they are counted here; and the vision tower's size is
not in the config (it names a timm architecture), so it is a fixed figure per architecture. Held to the published
safetensors totals in tests/test_models_count.py: E2B 5,439,438,272, E4B 7,849,978,192.
"""

from __future__ import annotations

from typing import Any

from advisor.errors import BadInputError
from advisor.models.bounds import positive_size

# timm 1.0.31: sum(p.numel() for p in timm.create_model("mobilenetv5_300m_enc").parameters()); also what is left
# of both published totals once the text model, the audio tower and the embedders are counted
VISION_TOWERS = {"mobilenetv5_300m_enc": 294_126_912}


def _sub(cfg: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = cfg.get(key)
    if not isinstance(value, dict):
        raise BadInputError(f"{source}: gemma3n needs {key}")
    return value


def _size(cfg: dict[str, Any], key: str, source: str, where: str, default: int | None = None) -> int:
    return positive_size(cfg.get(key, default), key, source, where)


def _pairs(cfg: dict[str, Any], key: str, source: str) -> list[tuple[int, int]]:
    value = cfg.get(key)
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(p, list) and len(p) == 2 and all(isinstance(v, int) and 0 < v < 64 for v in p)
                       for p in value)):
        raise BadInputError(f"{source}: audio_config {key} must be two [height, width] pairs")
    return [(p[0], p[1]) for p in value]


def count(cfg: dict[str, Any], source: str) -> tuple[dict[str, int], dict[str, Any]]:
    """(parameters by group, the text model's facts for the memory model)."""
    t = _sub(cfg, "text_config", source)
    a = _sub(cfg, "audio_config", source)
    v = _sub(cfg, "vision_config", source)
    w = "text_config"
    h, layers = _size(t, "hidden_size", source, w), _size(t, "num_hidden_layers", source, w)
    if layers > 4096:
        raise BadInputError(f"{source}: text_config num_hidden_layers {layers} is not a layer count")
    heads, kv = _size(t, "num_attention_heads", source, w), _size(t, "num_key_value_heads", source, w)
    hd = _size(t, "head_dim", source, w, h // heads)
    vocab, vocab_ple = _size(t, "vocab_size", source, w), _size(t, "vocab_size_per_layer_input", source, w)
    ple = _size(t, "hidden_size_per_layer_input", source, w)
    altup, rank = _size(t, "altup_num_inputs", source, w, 4), _size(t, "laurel_rank", source, w, 64)
    inter = t.get("intermediate_size")
    widths = ([positive_size(x, "intermediate_size", source, w) for x in inter] if isinstance(inter, list)
              else [_size(t, "intermediate_size", source, w)] * layers)
    if len(widths) != layers:
        raise BadInputError(f"{source}: text_config intermediate_size lists {len(widths)} widths for {layers} layers")
    shared = t.get("num_kv_shared_layers", 0)
    if not isinstance(shared, int) or isinstance(shared, bool) or not 0 <= shared < layers:
        raise BadInputError(f"{source}: text_config num_kv_shared_layers must be a layer count below {layers}")
    groups = {
        "embeddings": vocab * h + vocab_ple * layers * ple,  # embed_tokens and the per-layer embedding table
        # q, k, v, o with q_norm and k_norm on every layer (v_norm has no weight)
        "attention": layers * (2 * h * heads * hd + 2 * h * kv * hd + 2 * hd),
        "mlp": sum(3 * h * f for f in widths),
        # four layer norms, AltUp's router norm, Laurel's and the per-layer input's norms; the final norm and the
        # per-layer projection's norm
        "norms": layers * 7 * h + h + ple,
        # per layer: AltUp (correction and prediction coefficients, the modality router, the output scale),
        # Laurel's two low-rank linears, the per-layer input gate and projection
        "mixer": layers * (altup * altup + altup ** 3 + altup * h + h + 2 * h * rank + 2 * h * ple),
        # the per-layer projection of the embeddings, AltUp's input and output projections
        "projections": h * layers * ple + 2 * (altup - 1) * h * h,
        "audio": _audio(a, source),
        "projector": _embedder(v, h, source) + _embedder(a, h, source),
    }
    arch = v.get("architecture")
    if not isinstance(arch, str) or arch not in VISION_TOWERS:
        raise BadInputError(f"{source}: gemma3n vision tower {str(arch)[:40]!r} has no known size (known: "
                            f"{', '.join(VISION_TOWERS)})")
    groups["vision"] = VISION_TOWERS[str(arch)]
    window = t.get("sliding_window")
    types = t.get("layer_types")
    if not isinstance(types, list) or len(types) != layers:
        types = ["full_attention" if (i + 1) % 5 == 0 else "sliding_attention" for i in range(layers)]
    windows = tuple(window if isinstance(window, int) and window > 0 and kind == "sliding_attention" else None
                    for kind in types)
    context = t.get("max_position_embeddings")
    facts = {"layers": layers, "hidden": h, "heads": heads, "kv_heads": kv, "head_dim": hd,
             "intermediate": max(widths), "vocab": vocab, "context": context if isinstance(context, int) else None,
             "windows": windows,
             # the last num_kv_shared_layers layers reuse the KV of earlier layers (transformers' kv sharing)
             "kv_layers": tuple(range(layers - shared))}
    return groups, facts


def _audio(a: dict[str, Any], source: str) -> int:
    """Gemma3nAudioEncoder: the two-conv subsampler (each conv with a weighted group norm) and its projection, then
    conformer blocks of two feed-forward halves, attention with a per-dim scale and a relative-position projection,
    a light depthwise convolution, and a closing norm."""
    w = "audio_config"
    ha, blocks = _size(a, "hidden_size", source, w), _size(a, "conf_num_hidden_layers", source, w)
    heads = _size(a, "conf_num_attention_heads", source, w)
    kernel = _size(a, "conf_conv_kernel_size", source, w)
    feat = _size(a, "input_feat_size", source, w)
    channels = a.get("sscp_conv_channel_size")
    if not isinstance(channels, list) or len(channels) != 2 or not all(isinstance(c, int) and c > 0 for c in channels):
        raise BadInputError(f"{source}: audio_config sscp_conv_channel_size must be two channel counts")
    kernels, strides = _pairs(a, "sscp_conv_kernel_size", source), _pairs(a, "sscp_conv_stride_size", source)
    c0, c1 = int(channels[0]), int(channels[1])
    freq = feat
    for (_kh, kw), (_sh, sw) in zip(kernels, strides, strict=True):
        freq = (freq + 2 - kw) // sw + 1  # padded by one on each side of the frequency axis
    sub = c0 * kernels[0][0] * kernels[0][1] + c0 + c1 * c0 * kernels[1][0] * kernels[1][1] + c1 + c1 * freq * ha
    ffw = 2 * ha + 8 * ha * ha  # pre and post norms, the 4x expansion and back
    attention = 2 * ha + ha // heads + 5 * ha * ha  # norms, per-dim scale, q, k, v, the position projection, post
    conv = 2 * ha + 3 * ha * ha + kernel * ha  # norms, linear_start (to 2x), the depthwise kernel, linear_end
    return sub + blocks * (2 * ffw + attention + conv + ha)


def _embedder(sub: dict[str, Any], text_hidden: int, source: str) -> int:
    """Gemma3nMultimodalEmbedder: its own small vocabulary, the hard and soft embedding norms, and the projection to
    the text width (the post-projection norm has no weight)."""
    mm, vocab = _size(sub, "hidden_size", source, "its sub-config"), _size(sub, "vocab_size", source, "its sub-config")
    return int(vocab * mm + 2 * mm + mm * text_hidden)
