"""What each supported architecture is made of, as data. One function (count.py) reads it.

Each entry says which config keys hold the sizes, how attention and the MLP are built (biases, gated or
not, fused or not does not matter for counts), which norms exist (RMSNorm: weight; LayerNorm: weight and
bias) and how many per layer, and whether embeddings are tied by default. Facts from the model families'
published configs and reference implementations.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Arch:
    family: str
    mlp: str = "gated"  # "gated": gate, up, down; "plain": up, down; "none": the mixer is the whole layer
    norm: str = "rms"  # "rms": weight only; "layer": weight + bias
    norms_per_layer: int = 2
    qkv_bias: bool = False
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: str | None = None  # "head": q_norm/k_norm of head_dim; "full": over all heads
    tied_default: bool = False
    lm_head_bias: bool = False
    positions_key: str | None = None  # learned absolute position embeddings
    moe: str | None = None  # "mixtral" | "qwen" | "deepseek" | "gpt_oss" | "llama4" | "granite" | "nemotron_h"
    attention: str = "standard"  # "standard" | "mla"
    bias_keys: tuple[str, ...] = ()  # config keys that switch linear biases on (all of them)
    window: str | None = None  # how sliding-window attention is laid out (see count.sliding_layout)
    head_class: str = "causal-lm"
    aliases: tuple[str, ...] = field(default_factory=tuple)
    bias_keys_o: bool = True  # the bias keys also switch on o_proj's bias (GLM-4.5: q, k, v only)
    qk_norm_key: str | None = None  # qk_norm only when this config key is true (GLM-4.5's use_qk_norm)
    sinks: bool = False  # a learned attention-sink logit per head (gpt-oss)
    router_bias: bool = False  # the router has a bias (gpt-oss) or a score-correction bias (GLM-4.5)
    expert_bias: bool = False  # expert projections have biases (gpt-oss)
    gated_q: bool = False  # q_proj also produces the attention output gate (Qwen3-Next): 2 x heads x head_dim
    layout: str | None = None  # hybrid layer layouts (count.layer_layout): which layers attend, which recur
    # False: counted from the reference layout but not yet checked against a published total, so a count is
    # labelled approximate (ModelSpec.exact False) until a test holds it to one
    checked: bool = True


ARCHITECTURES: dict[str, Arch] = {
    "llama": Arch("llama", bias_keys=("attention_bias",)),
    "mistral": Arch("mistral", window="all"),
    "mixtral": Arch("mixtral", moe="mixtral", window="all"),
    "qwen2": Arch("qwen2", qkv_bias=True, window="qwen"),
    "qwen2_moe": Arch("qwen2_moe", qkv_bias=True, moe="qwen", window="qwen"),
    "qwen3": Arch("qwen3", qk_norm="head", bias_keys=("attention_bias",), window="qwen"),
    "qwen3_moe": Arch("qwen3_moe", qk_norm="head", moe="qwen", bias_keys=("attention_bias",), window="qwen"),
    "gemma": Arch("gemma", tied_default=True),
    "gemma2": Arch("gemma2", norms_per_layer=4, tied_default=True, window="alternate"),
    "gemma3_text": Arch("gemma3_text", norms_per_layer=4, qk_norm="head", tied_default=True, window="pattern"),
    "phi3": Arch("phi3", window="all"),
    "phi": Arch("phi", mlp="plain", norm="layer", norms_per_layer=1, qkv_bias=True, o_bias=True, mlp_bias=True,
                lm_head_bias=True),
    "gpt2": Arch("gpt2", mlp="plain", norm="layer", qkv_bias=True, o_bias=True, mlp_bias=True, tied_default=True,
                 positions_key="n_positions"),
    "gpt_neox": Arch("gpt_neox", mlp="plain", norm="layer", qkv_bias=True, o_bias=True, mlp_bias=True),
    "falcon": Arch("falcon", mlp="plain", norm="layer", tied_default=True, bias_keys=("bias",)),
    "olmo2": Arch("olmo2", qk_norm="full", bias_keys=("attention_bias",)),
    "deepseek_v2": Arch("deepseek_v2", moe="deepseek", attention="mla", bias_keys=("attention_bias",)),
    "deepseek_v3": Arch("deepseek_v3", moe="deepseek", attention="mla", bias_keys=("attention_bias",)),
    # gpt-oss: q/k/v/o biases, a sink logit per head, 32/128 experts with biased gate_up/down projections and a
    # biased router (transformers models/gpt_oss; OpenAI's gpt-oss model card).
    "gpt_oss": Arch("gpt_oss", qkv_bias=True, o_bias=True, moe="gpt_oss", sinks=True, router_bias=True,
                    expert_bias=True),
    # GLM-4.5/4.6: DeepSeek-style routed + shared experts with dense first layers; attention_bias switches q, k, v
    # biases only; the router keeps an e_score_correction_bias (transformers models/glm4_moe).
    "glm4_moe": Arch("glm4_moe", moe="deepseek", bias_keys=("attention_bias",), bias_keys_o=False,
                     qk_norm="head", qk_norm_key="use_qk_norm", router_bias=True),
    # Kimi K2 is a DeepSeek-V3 network (its config: architectures DeepseekV3ForCausalLM).
    "kimi_k2": Arch("kimi_k2", moe="deepseek", attention="mla", bias_keys=("attention_bias",)),
    # Llama 4: MoE layers (routed experts + a shared expert) interleaved with dense ones; its QK norm is a
    # parameter-free L2 norm (transformers models/llama4).
    "llama4_text": Arch("llama4_text", moe="llama4", bias_keys=("attention_bias",)),
    # SmolLM3: a Llama network whose NoPE layers skip rotary embeddings (no parameters change).
    "smollm3": Arch("smollm3", bias_keys=("attention_bias",), tied_default=True),
    # Qwen3-Next: gated full attention on every 4th layer, gated DeltaNet elsewhere, MoE with a gated shared expert.
    "qwen3_next": Arch("qwen3_next", qk_norm="head", moe="qwen", gated_q=True, layout="qwen3_next"),
    # State-space and hybrid models: a recurrent state per sequence instead of a KV cache on their mixer layers.
    "mamba": Arch("mamba", mlp="none", norms_per_layer=1, tied_default=True, layout="mamba"),
    "mamba2": Arch("mamba2", checked=False, mlp="none", norms_per_layer=1, layout="mamba2"),
    "nemotron_h": Arch("nemotron_h", moe="nemotron_h", mlp="plain", norms_per_layer=1, bias_keys=("attention_bias",),
                       layout="nemotron_h"),
    "granitemoehybrid": Arch("granitemoehybrid", moe="granite", bias_keys=("attention_bias",), tied_default=True,
                             layout="granitemoehybrid"),
    "falcon_h1": Arch("falcon_h1", bias_keys=("attention_bias",), layout="falcon_h1"),
    "jamba": Arch("jamba", moe="mixtral", layout="jamba"),
    # RoBERTa and XLM-R: BERT's encoder with one token type and position ids offset by the padding index (the table
    # is max_position_embeddings long: 514, or 8194 for bge-m3); the classifier head has no pooler.
    "roberta": Arch("roberta", mlp="plain", norm="layer", qkv_bias=True, o_bias=True, mlp_bias=True, tied_default=True,
                    positions_key="max_position_embeddings", head_class="encoder", aliases=("xlm-roberta",)),
    "bert": Arch("bert", mlp="plain", norm="layer", qkv_bias=True, o_bias=True, mlp_bias=True, tied_default=True,
                 positions_key="max_position_embeddings", head_class="encoder"),
}

for _arch in list(ARCHITECTURES.values()):
    for _alias in _arch.aliases:
        ARCHITECTURES[_alias] = _arch

# Config keys by meaning, first present wins.
KEYS = {
    "hidden": ("hidden_size", "n_embd", "d_model"),
    "layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "heads": ("num_attention_heads", "n_head"),
    "kv_heads": ("num_key_value_heads", "num_kv_heads", "n_head_kv"),
    "intermediate": ("intermediate_size", "n_inner", "ffn_hidden_size", "ffn_dim"),
    "vocab": ("vocab_size", "padded_vocab_size"),
    "context": ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length", "seq_length"),
}

# Multimodal wrappers: model_type -> the text architecture inside `text_config`.
MULTIMODAL_TEXT = {
    "gemma3": "gemma3_text",
    "llava": None,  # whatever text_config.model_type says
    "mistral3": None,
    "qwen2_vl": "qwen2",
}
