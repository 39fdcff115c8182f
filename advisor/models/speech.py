"""Whisper (speech-to-text encoder-decoder), counted from its config.json.

The module tree is WhisperForConditionalGeneration's in Hugging Face transformers: an encoder (two Conv1d over the
log-mel frames, the second with stride 2; a learned position table of max_source_positions rows; pre-LN layers of
self-attention, whose k_proj has no bias, and a GELU MLP; a final LayerNorm) and a decoder (token and position
embeddings; layers of self-attention, cross-attention over the encoder's output and the MLP, three LayerNorms
each; a final LayerNorm); the output projection is tied to the token embeddings. Checked against the published
totals in tests/test_models_count.py.
"""

from __future__ import annotations

from typing import Any

from advisor.models.bounds import positive_size

KEYS = ("d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads", "decoder_attention_heads",
        "encoder_ffn_dim", "decoder_ffn_dim", "vocab_size", "num_mel_bins", "max_source_positions",
        "max_target_positions")
DEFAULTS = {"num_mel_bins": 80, "max_source_positions": 1500, "max_target_positions": 448}


def shape(cfg: dict[str, Any], source: str) -> dict[str, int]:
    """The sizes of a Whisper config, each checked (one clear error for a missing or impossible one)."""
    return {k: positive_size(cfg.get(k, DEFAULTS.get(k)), k, source, "config") for k in KEYS}


def _attention(d: int) -> int:
    return 4 * d * d + 3 * d  # q, v, out with bias; k without


def _mlp(d: int, ffn: int) -> int:
    return d * ffn + ffn + ffn * d + d


def count(cfg: dict[str, Any], source: str) -> tuple[dict[str, int], dict[str, int]]:
    """(parameter groups, shape) of a Whisper config."""
    s = shape(cfg, source)
    d = s["d_model"]
    encoder = (s["num_mel_bins"] * d * 3 + d) + (d * d * 3 + d) + s["max_source_positions"] * d
    encoder += s["encoder_layers"] * (_attention(d) + _mlp(d, s["encoder_ffn_dim"]) + 2 * 2 * d) + 2 * d
    decoder = s["max_target_positions"] * d
    decoder += s["decoder_layers"] * (2 * _attention(d) + _mlp(d, s["decoder_ffn_dim"]) + 3 * 2 * d) + 2 * d
    return {"encoder": encoder, "decoder": decoder, "embeddings": s["vocab_size"] * d}, s
