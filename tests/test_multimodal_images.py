"""Multimodal LLMs: what an image costs (patches, tokens of the context, the vision tower's working memory), by
hand from each tower's config, and how plans carry it."""

from __future__ import annotations

import pytest

from advisor.models.resolve import resolve
from rules.plan import Request
from rules.towers import batch_tower, image_cost
from rules.workloads import decide
from tests.snapshots import gpu, machine

H100 = machine([gpu(0, "NVIDIA H100 80GB HBM3", 79.6, "9.0")], ram_gib=256)


def test_qwen25_vl_resizes_to_multiples_of_28_and_merges_four_patches_a_token() -> None:
    t = resolve("Qwen2.5-VL-7B-Instruct").tower
    assert t is not None and (t.layout, t.hidden, t.layers, t.intermediate, t.patch, t.merge) == (
        "dynamic", 1280, 32, 3420, 14, 2)
    one = image_cost(t, (1024, 1024))  # 1024 / 28 = 36.6 -> 37 x 28 = 1036
    assert (one.height, one.width, one.patches, one.tokens) == (1036, 1036, 74 * 74, 74 * 74 // 4)
    wide = image_cost(t, (720, 1280))  # 720 -> 26 x 28 = 728, 1280 -> 46 x 28 = 1288
    assert (wide.height, wide.width, wide.patches, wide.tokens) == (728, 1288, 52 * 92, 52 * 92 // 4)
    huge = image_cost(t, (8000, 8000))  # above max_pixels 12,845,056: scaled down, still multiples of 28
    assert huge.height * huge.width <= 12_845_056 and huge.height % 28 == 0
    # the tower at bf16: 5,476 patches x (6 x 1280 + 3 x 3420) + 1,369 tokens x 3,584 (the text width), 2 bytes
    _one, working = batch_tower(resolve("Qwen2.5-VL-7B-Instruct"), None, (1024, 1024), 1, 2)
    assert working == (5476 * (6 * 1280 + 3 * 3420) + 1369 * 3584) * 2


def test_gemma3_resizes_to_896_and_pools_to_256_tokens() -> None:
    spec = resolve("gemma-3-4b-it")
    t = spec.tower
    assert t is not None and (t.layout, t.side, t.tokens_per_image, t.gated_mlp) == ("fixed", 896, 256, False)
    for size in ((224, 224), (3000, 4000)):
        one = image_cost(t, size)
        assert (one.patches, one.tokens) == (64 * 64, 256)
    _one, working = batch_tower(spec, 3, None, 2, 2)  # 6 images in the batch
    assert working == 6 * (4096 * (6 * 1152 + 2 * 4304) + 256 * 2560) * 2


def test_tiled_towers() -> None:
    t4 = resolve("Llama-4-Scout-17B-16E-Instruct").tower
    assert t4 is not None and t4.merge == 2 and t4.max_tiles == 16
    one = image_cost(t4, (336, 336))
    assert (one.tiles, one.patches, one.tokens) == (1, 577, 144)
    big = image_cost(t4, (1024, 1024))  # 4 x 4 tiles of 336 and the global one
    assert (big.tiles, big.patches, big.tokens) == (17, 17 * 577, 17 * 144)
    tm = resolve("Llama-3.2-11B-Vision-Instruct").tower
    assert tm is not None and not tm.in_context and tm.layers == 40
    cross = image_cost(tm, (1024, 1024))  # 2 x 2 tiles of 560: the most it takes
    assert (cross.tiles, cross.patches, cross.tokens) == (4, 4 * 1601, 0)


def test_plans_carry_the_images_and_the_engines_differ_on_the_workspace() -> None:
    spec = resolve("Qwen2.5-VL-7B-Instruct")
    base = Request(context=16384, engine="llama.cpp", precision="Q4_K_M")
    none = decide(spec, H100, base.model_copy(update={"images": 0})).plan
    one = decide(spec, H100, base).plan
    eight = decide(spec, H100, base.model_copy(update={"images": 8})).plan
    assert none is not None and one is not None and eight is not None
    assert one.images == 1 and one.image_tokens == 1369 and eight.images == 8
    _o, tower1 = batch_tower(spec, 1, None, 1, 2)
    _o, tower8 = batch_tower(spec, 8, None, 1, 2)
    # llama.cpp's mmproj has its own compute buffer: the tower adds to the text model's
    assert one.memory.activations_bytes - none.memory.activations_bytes == tower1
    assert eight.memory.activations_bytes - none.memory.activations_bytes == tower8
    assert any("1 image(s) of 1036x1036 px" in n for n in one.notes)
    # transformers reuses the workspace: the larger of the two, never their sum
    tf = Request(context=16384, engine="transformers", precision="bf16")
    t0 = decide(spec, H100, tf.model_copy(update={"images": 0})).plan
    t8 = decide(spec, H100, tf.model_copy(update={"images": 8})).plan
    assert t0 is not None and t8 is not None
    assert t8.memory.activations_bytes == max(t0.memory.activations_bytes, tower8)


@pytest.mark.parametrize(("model", "update", "needle"), [
    ("Qwen2.5-VL-7B-Instruct", {"images": 8, "context": 8192}, "more than the context of 8,192"),
    ("Llama-3.1-8B-Instruct", {"images": 1}, "has no vision tower"),
    ("Llama-3.1-8B-Instruct", {"image_size": (640, 640)}, "text-only LLM"),
])
def test_requests_that_cannot_hold_their_images_are_refused(model: str, update: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        decide(resolve(model), H100, Request(**update))  # type: ignore[arg-type]

