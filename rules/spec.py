"""ModelSpec, the contract between the model resolvers (advisor/models) and the rules: what a model is, exactly
where we can tell, and labelled where we cannot. Plain values only; rules/ reads it, never builds it from files."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["directory", "safetensors", "gguf", "hf-cache", "hub", "catalog", "name-size"]


class Quantization(BaseModel):
    model_config = ConfigDict(frozen=True)

    method: str = Field(description="gptq, awq, bitsandbytes, fp8, compressed-tensors, mxfp4, gguf, ...")
    bits: float | None = None
    group_size: int | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class Mla(BaseModel):
    model_config = ConfigDict(frozen=True)

    kv_lora_rank: int
    qk_rope_head_dim: int
    qk_nope_head_dim: int
    v_head_dim: int
    q_lora_rank: int = 0


class VisionShape(BaseModel):
    """What sizes a vision model's forward: its live activations per image as a function of the pixels, traced
    from the model's own definition (benchmarks/trace_vision.py), and the image sizes it takes."""

    model_config = ConfigDict(frozen=True)

    library: Literal["torchvision", "ultralytics"]
    builder: str = Field(description="What loads it: torchvision's builder name (resnet50) or ultralytics' weights "
                         "file (yolov8x.pt)")
    task: str = Field(description="classification, detection, segmentation, keypoints")
    default_image_size: int
    fixed_image_size: int | None = Field(None, description="The only size the model takes (torchvision ViTs)")
    stride: int = Field(32, description="Image sides are rounded up to a multiple of this (the network's stride)")
    elements: tuple[float, float, float] = Field(description="Live activation elements per image at the forward's "
                                                 "peak: a + b*P + c*P^2, P = H*W pixels")
    traced_max_pixels: int = Field(description="The largest traced H*W: beyond it the fit extrapolates")
    source: str


class DiffusionShape(BaseModel):
    """A diffusion pipeline's parts: each component's parameters, and the denoiser step's and the VAE decode's live
    activations per image, traced from their definitions (benchmarks/trace_diffusion.py)."""

    model_config = ConfigDict(frozen=True)

    components: dict[str, int] = Field(description="Parameters per component (unet, vae, text_encoder, ...)")
    denoiser: tuple[float, float, float] = Field(description="One latent's denoiser step: a + b*P + c*P^2 elements, "
                                                 "P = output pixels (guidance runs two latents per image)")
    vae_decode: tuple[float, float, float] = Field(description="One image's VAE decode, same form")
    vae_upcast: bool = Field(False, description="The VAE decodes in fp32 whatever the pipeline's dtype "
                             "(its config's force_upcast: SDXL)")
    vae_tile: int = Field(512, description="VAE tiling's tile side in pixels (the VAE's sample_size)")
    default_resolution: int
    traced_max_pixels: int
    repo: str | None = None
    source: str


class SpeechShape(BaseModel):
    """A Whisper-style encoder-decoder's sizes: the working memory and caches follow from them
    (rules/workloads/speech.py)."""

    model_config = ConfigDict(frozen=True)

    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_attention_heads: int
    decoder_attention_heads: int
    encoder_ffn_dim: int
    decoder_ffn_dim: int
    vocab_size: int
    num_mel_bins: int
    max_source_positions: int = Field(description="Encoder frames per 30 s window (after the stride-2 conv)")
    max_target_positions: int = Field(description="Decoder tokens per window, prompt included")


class TowerShape(BaseModel):
    """A multimodal LLM's vision tower: how an image becomes patches and tokens, and what the tower's forward
    holds (rules/towers.py)."""

    model_config = ConfigDict(frozen=True)

    layout: Literal["dynamic", "fixed", "tiles"] = Field(description="dynamic: the image at its own size (Qwen2-VL); "
                                                         "fixed: resized to one square (SigLIP in Gemma 3); tiles: "
                                                         "cut into squares up to a maximum (Llama 3.2 Vision, Llama 4)")
    hidden: int
    layers: int
    intermediate: int
    gated_mlp: bool = Field(description="gate and up projections (3 MLP intermediates live) or one (2: fc1 and GELU)")
    patch: int = Field(description="Pixels per patch side")
    side: int = Field(description="fixed: the square images are resized to; tiles: a tile's side; dynamic: the "
                      "default image side when --image-size is not given")
    merge: int = Field(1, description="Patches per token side after merging (Qwen2-VL's spatial merge, Llama 4's "
                       "pixel shuffle): tokens = patches / merge^2")
    tokens_per_image: int | None = Field(None, description="fixed: the tokens an image gives the text model "
                                         "(Gemma 3 pools 4,096 patches to 256)")
    max_tiles: int = 1
    global_tile: bool = Field(False, description="tiles: a whole-image thumbnail tile is added when there are several")
    class_token: bool = False
    min_pixels: int | None = None
    max_pixels: int | None = None
    in_context: bool = Field(True, description="The image's tokens enter the text context (False: cross-attention, "
                             "Llama 3.2 Vision, whose image K/V are the model's fixed state)")
    source: str


class ModelSpec(BaseModel):
    """A model, resolved. `exact` says whether the parameter counts are exact; `estimated` names every
    field that is an estimate."""

    model_config = ConfigDict(frozen=True)

    name: str
    source: Source
    location: str | None = Field(None, description="File, directory or catalog entry it came from")
    model_type: str | None = None
    architecture: str | None = None
    family: str | None = None
    modality: str = "text"
    kind: Literal["text-generation", "embedding", "vision", "speech", "diffusion"] = Field(
        "text-generation", description="The workload (rules/kinds.py): a token LLM is text-generation")
    params_total: int
    params_active: int
    exact: bool
    estimated: list[str] = Field(default_factory=list)
    params_by_group: dict[str, int] = Field(default_factory=dict)
    params_not_loaded: dict[str, int] = Field(default_factory=dict, description="e.g. DeepSeek MTP layers")
    layers: int | None = None
    hidden_size: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    max_context: int | None = None
    sliding_windows: list[int | None] = Field(default_factory=list, description="Per layer; None = global")
    kv_layers: list[int] | None = Field(None, description="The layers that keep a KV cache when not all do (hybrid "
                                        "attention / state-space models); None = every layer")
    state_elements: int = Field(0, description="Recurrent state per sequence (state-space and linear-attention "
                                "layers), elements over all layers: fixed, whatever the context")
    mla: Mla | None = None
    experts: int | None = None
    experts_per_token: int | None = None
    tied_embeddings: bool | None = None
    native_dtype: str | None = None
    quantization: Quantization | None = None
    weight_bytes: int | None = Field(None, description="Bytes of the weights as stored, when files were read")
    bytes_by_dtype: dict[str, int] = Field(default_factory=dict)
    typical_activation_bytes: int | None = Field(None, description="Non-LLMs: a typical inference peak")
    vision: VisionShape | None = Field(None, description="Vision models: the traced activation profile")
    speech: SpeechShape | None = Field(None, description="Speech encoder-decoders: their sizes")
    diffusion: DiffusionShape | None = Field(None, description="Diffusion pipelines: components and traced stages")
    tower: TowerShape | None = Field(None, description="Multimodal LLMs: the vision tower's geometry (per-image cost)")
    notes: list[str] = Field(default_factory=list)
    citation: str | None = None
    pinned_precision: str | None = Field(None, description="The format the checkpoint ships in, when it is one "
                                         "(a quantized repo or a GGUF tag): plans use it and no other")
    nominal_params: int | None = Field(None, description="The size people quote (\"7B\"), when the name carries one "
                                       "close to the exact count; the rule of thumb uses it")

    @property
    def is_moe(self) -> bool:
        return bool(self.experts)

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)
