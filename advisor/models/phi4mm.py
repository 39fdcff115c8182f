"""Phi-4-multimodal-instruct (model_type "phi4mm", Phi4MMForCausalLM, the config its Hub repo serves), counted
from that config: the Phi-3 text decoder (Phi-4-mini's), the vision and speech LoRA adapters stored beside its
projections, the SigLIP-so400m tower at 448 px with its projector and HD-transform separators, and the Conformer
speech encoder with its two audio projections.

Facts from transformers' modeling_phi4_multimodal.py and its converter (convert_phi4_multimodal_weights_to_hf.py,
whose extract_adapters_data() gives the adapters' ranks) and vLLM's phi4mm.py / phi4mm_audio.py. The checkpoint
stores the adapters unmerged (base_layer, lora_A, lora_B) and every SigLIP layer with its pooling head (features
come from the second-to-last layer, the rest is stored all the same), and two 80-value audio normalisation
buffers: all of them are in the published total, 5,574,460,384 (the index's total_size, 11,148,920,768 bf16 bytes).
"""

from __future__ import annotations

import math
from typing import Any

from advisor.errors import BadInputError
from advisor.models.bounds import positive_size
from advisor.models.towers import siglip_clip

# The SigLIP tower is not in the config: the remote code builds siglip-so400m-patch14-448 (get_siglip_vision_model;
# vLLM vision_siglip_navit.py), whose sizes these are
SIGLIP_HIDDEN, SIGLIP_INTERMEDIATE, SIGLIP_LAYERS, SIGLIP_HEADS, SIGLIP_PATCH = 1152, 4304, 27, 16, 14
SIGLIP_SO400M: dict[str, Any] = {"model_type": "siglip_vision_model", "hidden_size": SIGLIP_HIDDEN,
                                 "intermediate_size": SIGLIP_INTERMEDIATE, "num_hidden_layers": SIGLIP_LAYERS,
                                 "num_attention_heads": SIGLIP_HEADS, "patch_size": SIGLIP_PATCH}


def _dict(cfg: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = cfg.get(key)
    if not isinstance(value, dict):
        raise BadInputError(f"{source}: phi4mm needs {key}")
    return value


def _part(cfg: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested block of the config, empty when absent."""
    value = cfg.get(key)
    return value if isinstance(value, dict) else {}


def _size(cfg: dict[str, Any], key: str, source: str, default: int | None = None) -> int:
    return positive_size(cfg.get(key, default), key, source, "audio_processor.config")


def lora(cfg: dict[str, Any], h: int, q_out: int, kv_out: int, inter: int, layers: int, source: str) -> int:
    """Both adapters on every layer's qkv_proj, o_proj, gate_up_proj and down_proj: rank x (in + out) each."""
    per_rank = (h + q_out + 2 * kv_out) + (q_out + h) + (h + 2 * inter) + (inter + h)
    total = 0
    for key in ("vision_lora", "speech_lora"):
        adapter = cfg.get(key)
        if isinstance(adapter, dict):
            total += layers * positive_size(adapter.get("r"), "r", source, key) * per_rank
    return total


def vision(cfg: dict[str, Any], text_hidden: int, source: str) -> tuple[int, int, int]:
    """(tower, projector with the separators, crop side)."""
    embd = _dict(cfg, "embd_layer", source)
    image = _part(embd, "image_embd_layer")
    crop = positive_size(image.get("crop_size", 448), "crop_size", source, "embd_layer.image_embd_layer")
    vh, inter = SIGLIP_HIDDEN, SIGLIP_INTERMEDIATE
    tower = siglip_clip({**SIGLIP_SO400M, "image_size": crop}, source)
    # the multihead-attention pooling head: probe, in/out projections, its norm and MLP
    head = vh + (3 * vh * vh + 3 * vh) + (vh * vh + vh) + 2 * vh + (vh * inter + inter) + (inter * vh + vh)
    projector = 2 * vh + (vh * text_hidden + text_hidden) + (text_hidden * text_hidden + text_hidden)  # GNs + MLP
    return tower + head, projector, crop


def audio(cfg: dict[str, Any], text_hidden: int, source: str) -> int:
    """The Conformer encoder (NeMo dw_striding subsampling, blocks of two GLU feed-forwards, attention, a GLU and
    depthwise-separable convolution module; a T5 relative-attention bias; the two normalisation buffers) and the
    speech and vision-speech projections."""
    proc = _dict(cfg, "audio_processor", source)
    a = _dict(proc, "config", source)
    dim, units = _size(a, "attention_dim", source), _size(a, "linear_units", source)
    blocks, heads = _size(a, "num_blocks", source), _size(a, "attention_heads", source)
    feat = _size(a, "input_size", source, 80)
    conv_cfg = _part(a, "nemo_conv_settings")
    channels = positive_size(conv_cfg.get("conv_channels", 1024), "conv_channels", source, "nemo_conv_settings")
    reduction = _size(a, "time_reduction", source, 8)
    stages = int(math.log2(reduction))
    if 2 ** stages != reduction:
        raise BadInputError(f"{source}: audio time_reduction {reduction} is not a power of two")
    kernel = _size(a, "kernel_size", source, 3)
    ext = _size(a, "ext_pw_out_channel", source, dim)
    dsep = _size(a, "depthwise_seperable_out_channel", source, a.get("depthwise_separable_out_channel", dim))
    mult = _size(a, "depthwise_multiplier", source, 1)
    rel = _part(a, "relative_attention_bias_args")
    distance = positive_size(rel.get("t5_bias_max_distance", 500), "t5_bias_max_distance", source,
                             "relative_attention_bias_args")
    freq = feat
    for _ in range(stages):
        freq = (freq - 1) // 2 + 1
    c = channels
    sub = (c * 9 + c) + (stages - 1) * ((c * 9 + c) + (c * c + c)) + (dim * c * freq + dim)
    feed_forward = 2 * dim + (2 * units * dim + 2 * units) + (dim * units + dim)
    attention = 4 * (dim * dim + dim)
    conv = 2 * dim + (2 * ext * dim + 2 * ext) + 2 * ext + (dim * mult * kernel + dim * mult)
    conv += (dsep * dim * mult + dsep) + (ext * dsep + ext)
    block = 2 * feed_forward + attention + conv + 4 * dim
    buffers = 2 * feat  # global_mean and global_invstd, stored in the checkpoint
    encoder = sub + blocks * block + 2 * distance * heads + buffers
    embd = _dict(cfg, "embd_layer", source)
    audio_layer = _part(embd, "audio_embd_layer")
    down = positive_size(audio_layer.get("downsample_rate", 1), "downsample_rate", source, "embd_layer.audio_embd_layer")
    projections = 2 * ((text_hidden * dim * down + text_hidden) + (text_hidden * text_hidden + text_hidden))
    return encoder + projections


def tower_geometry(crop: int, source: str) -> dict[str, Any]:
    """The HD transform: up to 16 crops of the crop size and a global one, 256 tokens each after 2x2 pooling."""
    return {"layout": "tiles", "hidden": SIGLIP_HIDDEN, "layers": SIGLIP_LAYERS,
            "intermediate": SIGLIP_INTERMEDIATE, "gated_mlp": False, "patch": SIGLIP_PATCH,
            "side": crop, "merge": 2, "max_tiles": 16, "global_tile": True,
            "source": f"{source} embd_layer (SigLIP-so400m crops of {crop} px, HD transform, 2x2 average pooling)"}
