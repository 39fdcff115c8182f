"""What one image costs a multimodal LLM: its patches in the vision tower, its tokens in the text context, and the
tower's working memory while it encodes the images of a batch.

The tower is a ViT: per patch it holds the residual, the normed input, q, k and v and the attention output (about
6 x hidden elements; attention through SDPA, transformers' default for these towers, keeps no patches x patches
scores), and the MLP's intermediates (gate, up and their product for a gated MLP, fc1 and its GELU otherwise). All
images of a batch go through the tower in one forward (their patches concatenated), so the working memory follows the
batch's patches; the merged features (tokens x the text model's width) stay until they are placed in the prompt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rules.spec import ModelSpec, TowerShape

DEFAULT_IMAGES = 1  # images per sequence planned for a multimodal model when --images is not given
DEFAULT_IMAGE_SIDE = 1024  # the image planned when --image-size is not given (a fixed-size tower resizes it)


@dataclass(frozen=True)
class ImageCost:
    height: int  # as the tower sees it, pixels
    width: int
    tiles: int
    patches: int  # the tower's sequence for this image (every tile)
    tokens: int  # tokens it takes in the text context (0 for cross-attention models)


def _smart_resize(h: int, w: int, factor: int, lo: int | None, hi: int | None) -> tuple[int, int]:
    """Qwen2-VL's resize (Qwen2VLImageProcessor smart_resize): sides to multiples of `factor`, the area within
    [lo, hi] pixels, the aspect ratio kept."""
    hb, wb = max(factor, round(h / factor) * factor), max(factor, round(w / factor) * factor)
    if hi is not None and hb * wb > hi:
        beta = math.sqrt(h * w / hi)
        hb, wb = max(factor, math.floor(h / beta / factor) * factor), max(factor, math.floor(w / beta / factor) * factor)
    elif lo is not None and hb * wb < lo:
        beta = math.sqrt(lo / (h * w))
        hb, wb = math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
    return hb, wb


def image_cost(t: TowerShape, size: tuple[int, int] | None) -> ImageCost:
    """One image of `size` (height, width; None: the tower's own or default size)."""
    h, w = size or (DEFAULT_IMAGE_SIDE, DEFAULT_IMAGE_SIDE)
    if t.layout == "dynamic":
        factor = t.patch * t.merge
        hb, wb = _smart_resize(h, w, factor, t.min_pixels, t.max_pixels)
        patches = (hb // t.patch) * (wb // t.patch)
        return ImageCost(hb, wb, 1, patches, patches // (t.merge * t.merge))
    per_tile = (t.side // t.patch) ** 2
    if t.layout == "fixed":
        tokens = t.tokens_per_image if t.tokens_per_image is not None else per_tile
        return ImageCost(t.side, t.side, 1, per_tile + (1 if t.class_token else 0), tokens if t.in_context else 0)
    tiles = min(t.max_tiles, math.ceil(h / t.side) * math.ceil(w / t.side))
    if t.global_tile and tiles > 1:
        tiles += 1
    patches = tiles * (per_tile + (1 if t.class_token else 0))
    tokens = tiles * per_tile // (t.merge * t.merge) if t.in_context else 0
    return ImageCost(h, w, tiles, patches, tokens)


def tower_working(t: TowerShape, patches: int, tokens: int, text_hidden: int, element_bytes: int) -> int:
    """The tower's peak beyond its weights while it encodes `patches` patches into `tokens` features, bytes."""
    mlp = (3 if t.gated_mlp else 2) * t.intermediate
    return (patches * (6 * t.hidden + mlp) + tokens * text_hidden) * element_bytes


def images_of(spec: ModelSpec, images: int | None) -> int:
    """Images per sequence: the request's, else one for a model with a tower, none for a text-only model."""
    if spec.tower is None:
        return 0
    return DEFAULT_IMAGES if images is None else images


def batch_tower(spec: ModelSpec, images: int | None, size: tuple[int, int] | None, batch: int,
                element_bytes: int) -> tuple[ImageCost | None, int]:
    """(one image's cost, the tower's working memory for the whole batch's images), or (None, 0)."""
    n = images_of(spec, images)
    if spec.tower is None or n == 0:
        return None, 0
    one = image_cost(spec.tower, size)
    count = n * batch
    return one, tower_working(spec.tower, one.patches * count, one.tokens * count, spec.hidden_size or 0, element_bytes)
