"""Vision towers and projectors of multimodal LLMs, counted from their `vision_config`.

Each function follows the module tree of the reference implementation in Hugging Face transformers (the class
named in its docstring) and is checked against a published total in tests/test_models_count.py.
"""

from __future__ import annotations

from typing import Any

from advisor.errors import BadInputError
from advisor.models.bounds import positive_size
from rules.towers import DEFAULT_IMAGE_SIDE


def _size(cfg: dict[str, Any], key: str, source: str, default: int | None = None) -> int:
    return positive_size(cfg.get(key, default), key, source, "vision_config")


def _linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def siglip_clip(cfg: dict[str, Any], source: str) -> int:
    """A SigLIP or CLIP vision transformer: patch and position embeddings, layers, final norm
    (SiglipVisionTransformer / CLIPVisionTransformer)."""
    vh = _size(cfg, "hidden_size", source)
    layers = _size(cfg, "num_hidden_layers", source)
    inter = _size(cfg, "intermediate_size", source, 4 * vh)
    patch = _size(cfg, "patch_size", source, 14)
    image = _size(cfg, "image_size", source, 224)
    channels = _size(cfg, "num_channels", source, 3)
    clip = cfg.get("model_type") == "clip_vision_model"
    patches = (image // patch) ** 2
    total = channels * patch * patch * vh + (0 if clip else vh)
    total += (patches + (1 if clip else 0)) * vh
    if clip:
        total += vh + 2 * vh  # class embedding, pre-layernorm
    per_layer = 2 * 2 * vh + 4 * _linear(vh, vh) + _linear(vh, inter) + _linear(inter, vh)
    return total + layers * per_layer + 2 * vh


def llama4(cfg: dict[str, Any], text_hidden: int, source: str) -> tuple[int, int]:
    """Llama 4's vision encoder (Llama4VisionModel: an unfolded-patch linear, class and position embeddings,
    pre/post LayerNorms, biased attention and GELU MLP layers, the pixel-shuffle adapter's two linears) and its
    projector (Llama4MultiModalProjector, one linear without bias). Returns (tower, projector)."""
    vh = _size(cfg, "hidden_size", source)
    layers = _size(cfg, "num_hidden_layers", source)
    inter = _size(cfg, "intermediate_size", source)
    patch = _size(cfg, "patch_size", source, 14)
    image = _size(cfg, "image_size", source, 336)
    channels = _size(cfg, "num_channels", source, 3)
    proj_in = _size(cfg, "projector_input_dim", source)
    proj_out = _size(cfg, "projector_output_dim", source)
    out_dim = _size(cfg, "vision_output_dim", source)
    patches = (image // patch) ** 2
    embed = channels * patch * patch * vh + vh + (patches + 1) * vh + 2 * 2 * vh
    per_layer = 4 * _linear(vh, vh) + _linear(vh, inter) + _linear(inter, vh) + 2 * 2 * vh
    adapter = _linear(inter, proj_in, bias=False) + _linear(proj_out, proj_out, bias=False)
    bias = bool(cfg.get("multi_modal_projector_bias", False))
    return embed + layers * per_layer + adapter, _linear(out_dim, text_hidden, bias)


def qwen2_vl(cfg: dict[str, Any], text_hidden: int, rms: bool, source: str) -> tuple[int, int]:
    """Qwen2-VL / Qwen2.5-VL vision transformer (Qwen2VisionTransformerPretrainedModel,
    Qwen2_5_VisionTransformerPretrainedModel): a Conv3d patch embedding without bias, blocks of two norms, a biased
    qkv and proj, an MLP (Qwen2-VL: fc1/fc2 of mlp_ratio x embed_dim; Qwen2.5-VL: gated, biased, intermediate_size),
    and the patch merger (a norm over the context dim, then two biased linears over 4 merged patches).
    Qwen2.5-VL's norms are RMSNorms (weight), Qwen2-VL's LayerNorms (weight and bias). Returns (tower, merger)."""
    if rms:
        dim = _size(cfg, "hidden_size", source)
        depth = _size(cfg, "depth", source)
        inter = _size(cfg, "intermediate_size", source)
        out = _size(cfg, "out_hidden_size", source, text_hidden)
        mlp = 2 * _linear(dim, inter) + _linear(inter, dim)
        norm = dim
    else:
        dim = _size(cfg, "embed_dim", source)
        depth = _size(cfg, "depth", source)
        ratio = cfg.get("mlp_ratio", 4)
        if not isinstance(ratio, int | float) or not 0 < ratio <= 64:
            raise BadInputError(f"{source}: vision_config mlp_ratio must be a positive number")
        inter = int(dim * ratio)
        out = _size(cfg, "hidden_size", source, text_hidden)
        mlp = _linear(dim, inter) + _linear(inter, dim)
        norm = 2 * dim
    patch = _size(cfg, "patch_size", source, 14)
    temporal = _size(cfg, "temporal_patch_size", source, 2)
    channels = _size(cfg, "in_chans", source, 3) if "in_chans" in cfg else _size(cfg, "in_channels", source, 3)
    merge = _size(cfg, "spatial_merge_size", source, 2)
    block = 2 * norm + _linear(dim, 3 * dim) + _linear(dim, dim) + mlp
    tower = channels * temporal * patch * patch * dim + depth * block
    merged = dim * merge * merge
    merger = norm + _linear(merged, merged) + _linear(merged, out)
    return tower, merger


def pixtral(cfg: dict[str, Any], source: str) -> int:
    """Pixtral's vision encoder (PixtralVisionModel: a Conv2d patch embedding without bias, an RMSNorm, layers of
    two RMSNorms, unbiased attention and a gated MLP)."""
    vh = _size(cfg, "hidden_size", source)
    layers = _size(cfg, "num_hidden_layers", source)
    inter = _size(cfg, "intermediate_size", source)
    patch = _size(cfg, "patch_size", source, 14)
    channels = _size(cfg, "num_channels", source, 3)
    heads = _size(cfg, "num_attention_heads", source)
    head_dim = _size(cfg, "head_dim", source, vh // heads)
    attn = 4 * vh * heads * head_dim  # q, k, v, o
    return channels * patch * patch * vh + vh + layers * (2 * vh + attn + 3 * vh * inter)


def mistral3_projector(vision_hidden: int, text_hidden: int, merge: int, bias: bool) -> int:
    """Mistral3MultiModalProjector: an RMSNorm, the patch merger's linear over merge^2 patches, two linears."""
    return (vision_hidden + _linear(vision_hidden * merge * merge, vision_hidden, bias=False)
            + _linear(vision_hidden, text_hidden, bias) + _linear(text_hidden, text_hidden, bias))


def mllama(cfg: dict[str, Any], text_hidden: int, source: str) -> tuple[int, int]:
    """Llama 3.2 Vision's encoder (MllamaVisionModel: a patch conv without bias, a class embedding, the gated
    position embedding with its per-aspect-ratio tile table, pre- and post-tile aspect-ratio embeddings with gates,
    pre/post LayerNorms, the local transformer and the gated global transformer with biased MLPs) and its projector
    (one biased linear from the concatenated intermediate layers to the text width). Returns (tower, projector)."""
    vh = _size(cfg, "hidden_size", source)
    inter = _size(cfg, "intermediate_size", source)
    layers = _size(cfg, "num_hidden_layers", source)
    global_layers = _size(cfg, "num_global_layers", source)
    patch = _size(cfg, "patch_size", source, 14)
    image = _size(cfg, "image_size", source, 560)
    channels = _size(cfg, "num_channels", source, 3)
    tiles = _size(cfg, "max_num_tiles", source, 4)
    ratios = cfg.get("supported_aspect_ratios")
    if not isinstance(ratios, list) or not ratios:
        raise BadInputError(f"{source}: vision_config.supported_aspect_ratios must be a non-empty list")
    ratio_ids = len(ratios) + 1  # id 0 is padding
    positions = (image // patch) ** 2 + 1  # patches + the class token
    embed = channels * patch * patch * vh + vh
    embed += 1 + positions * vh + ratio_ids * tiles * positions * vh  # gated position + tile position tables
    embed += 2 * (ratio_ids * tiles * vh + 1)  # pre- and post-tile aspect-ratio embeddings, each with a gate
    embed += 2 * 2 * vh  # layernorm_pre, layernorm_post
    per_layer = 4 * vh * vh + _linear(vh, inter) + _linear(inter, vh) + 2 * 2 * vh
    indices = cfg.get("intermediate_layers_indices")
    out_dim = _size(cfg, "vision_output_dim", source, vh * (len(indices) + 1) if isinstance(indices, list) else None)
    tower = embed + layers * per_layer + global_layers * (per_layer + 2)
    return tower, _linear(out_dim, text_hidden)


def mllama_image_tokens(cfg: dict[str, Any], source: str) -> int:
    """The vision tokens one image gives the text model's cross-attention: every tile's patches and class token."""
    patch = _size(cfg, "patch_size", source, 14)
    image = _size(cfg, "image_size", source, 560)
    return _size(cfg, "max_num_tiles", source, 4) * ((image // patch) ** 2 + 1)


# Qwen2.5-VL's released preprocessor_config.json (Qwen/Qwen2.5-VL-7B-Instruct): min_pixels 3136, max_pixels 12845056;
# images are resized to multiples of patch x merge (28 px) within those bounds (Qwen2VLImageProcessor smart_resize).
QWEN_VL_MIN_PIXELS = 3136
QWEN_VL_MAX_PIXELS = 12845056
LLAMA4_MAX_TILES = 16  # Llama4ImageProcessorFast max_patches: up to 16 tiles of 336 px, plus a global tile


def geometry(cfg: dict[str, Any], vision_cfg: dict[str, Any], model_type: str, source: str) -> dict[str, Any] | None:
    """The tower's geometry for the per-image memory (rules/towers.py), by the wrapper's model_type; None for a
    tower whose layout advisor does not know (its weights are still counted)."""
    where = f"{source} vision_config"
    if model_type in ("qwen2_vl", "qwen2_5_vl"):
        rms = model_type == "qwen2_5_vl"
        dim = _size(vision_cfg, "hidden_size" if rms else "embed_dim", source)
        inter = _size(vision_cfg, "intermediate_size", source) if rms else int(dim * vision_cfg.get("mlp_ratio", 4))
        return {"layout": "dynamic", "hidden": dim, "layers": _size(vision_cfg, "depth", source), "intermediate": inter,
                "gated_mlp": rms, "patch": _size(vision_cfg, "patch_size", source, 14), "side": DEFAULT_IMAGE_SIDE,
                "merge": _size(vision_cfg, "spatial_merge_size", source, 2), "min_pixels": QWEN_VL_MIN_PIXELS,
                "max_pixels": QWEN_VL_MAX_PIXELS, "source": f"{where} (Qwen2-VL dynamic resolution)"}
    if model_type == "mistral3":
        vh = _size(vision_cfg, "hidden_size", source)
        return {"layout": "dynamic", "hidden": vh, "layers": _size(vision_cfg, "num_hidden_layers", source),
                "intermediate": _size(vision_cfg, "intermediate_size", source), "gated_mlp": True,
                "patch": _size(vision_cfg, "patch_size", source, 14),
                "side": min(DEFAULT_IMAGE_SIDE, _size(vision_cfg, "image_size", source, 1540)),
                "merge": _size(cfg, "spatial_merge_size", source, 2),
                "max_pixels": _size(vision_cfg, "image_size", source, 1540) ** 2,
                "source": f"{where} (Pixtral: the image at its own size up to image_size)"}
    if model_type == "llama4":
        ratio = vision_cfg.get("pixel_shuffle_ratio", 0.5)
        merge = round(1 / ratio) if isinstance(ratio, int | float) and 0 < ratio <= 1 else 2
        return {"layout": "tiles", "hidden": _size(vision_cfg, "hidden_size", source),
                "layers": _size(vision_cfg, "num_hidden_layers", source),
                "intermediate": _size(vision_cfg, "intermediate_size", source), "gated_mlp": False,
                "patch": _size(vision_cfg, "patch_size", source, 14), "side": _size(vision_cfg, "image_size", source, 336),
                "merge": merge, "max_tiles": LLAMA4_MAX_TILES, "global_tile": True, "class_token": True,
                "source": f"{where} (Llama 4: tiles of image_size, pixel shuffle)"}
    if model_type == "mllama":
        return {"layout": "tiles", "hidden": _size(vision_cfg, "hidden_size", source),
                "layers": _size(vision_cfg, "num_hidden_layers", source) + _size(vision_cfg, "num_global_layers", source),
                "intermediate": _size(vision_cfg, "intermediate_size", source), "gated_mlp": False,
                "patch": _size(vision_cfg, "patch_size", source, 14), "side": _size(vision_cfg, "image_size", source, 560),
                "max_tiles": _size(vision_cfg, "max_num_tiles", source, 4), "class_token": True, "in_context": False,
                "source": f"{where} (Llama 3.2 Vision: tiles, cross-attention)"}
    if vision_cfg.get("model_type") in ("siglip_vision_model", "clip_vision_model") or "image_size" in vision_cfg:
        vh = _size(vision_cfg, "hidden_size", source)
        side = _size(vision_cfg, "image_size", source, 224)
        patch = _size(vision_cfg, "patch_size", source, 14)
        tokens = cfg.get("mm_tokens_per_image", 256 if model_type == "gemma3" else (side // patch) ** 2)
        return {"layout": "fixed", "hidden": vh, "layers": _size(vision_cfg, "num_hidden_layers", source),
                "intermediate": _size(vision_cfg, "intermediate_size", source, 4 * vh), "gated_mlp": False,
                "patch": patch, "side": side, "tokens_per_image": tokens if isinstance(tokens, int) and tokens > 0 else None,
                "class_token": vision_cfg.get("model_type") == "clip_vision_model",
                "source": f"{where} (resized to image_size)"}
    return None
