"""The diffusion workload: resolution, batch and steps; components and stages from the catalog's traced profiles,
the three layouts (all on the GPU, VAE slicing and tiling, model CPU offload), settings to paste, refusals."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from advisor.cli import app
from advisor.models import catalog
from rules.plan import Request
from rules.workloads import decide
from rules.workloads import diffusion as df
from tests.cli_refusals import assert_refused
from tests.snapshots import gpu, machine

runner = CliRunner()
GIB = 1024**3


def test_components_add_up_to_the_published_counts():
    sd15 = catalog.spec_for("stable-diffusion-v1-5").diffusion
    assert sd15 is not None
    # diffusers' own counts: UNet 859,520,964, VAE 83,653,863, CLIP ViT-L text encoder 123,060,480
    assert sd15.components == {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480}
    xl = catalog.spec_for("stable-diffusion-xl-base-1.0")
    assert xl.diffusion is not None and xl.diffusion.vae_upcast and xl.diffusion.vae_tile == 1024
    assert xl.params_total == 2_567_463_684 + 83_653_863 + 123_060_480 + 694_659_840


def test_stages_follow_guidance_batch_and_upcast():
    shape = catalog.spec_for("stable-diffusion-xl-base-1.0").diffusion
    assert shape is not None
    one = df.stages(shape, "fp16", 1024, 1024, 1, tiled=False)
    four = df.stages(shape, "fp16", 1024, 1024, 4, tiled=False)
    # guidance: two latents per image, fp16 (2 bytes) for the denoiser; the SDXL VAE decodes in fp32 (4 bytes)
    assert one.denoise == pytest.approx(2 * df._poly(shape.denoiser, 1024 * 1024) * 2)
    assert one.decode == pytest.approx(df._poly(shape.vae_decode, 1024 * 1024) * 4)
    assert four.denoise == pytest.approx(4 * one.denoise) and four.decode == pytest.approx(4 * one.decode)
    assert one.vae_copy == 83_653_863 * 4
    sliced = df.stages(shape, "fp16", 1024, 1024, 4, tiled=True)  # one image decoded at a time
    assert sliced.decode == pytest.approx(one.decode + 4 * 3 * 1024 * 1024 * 4)


def test_sdxl_on_a_3060_needs_offload_and_says_so():
    rtx3060 = machine([gpu(0, "NVIDIA GeForce RTX 3060", 12, "8.6", 11.6)], ram_gib=32)
    rec = decide(catalog.spec_for("stable-diffusion-xl-base-1.0"), rtx3060, Request(image_size=(1024, 1024), batch=4))
    assert rec.fits and rec.plan is not None
    assert rec.plan.placement == "offload" and rec.plan.vae_tiling and rec.plan.precision == "fp16"
    assert any("all on the GPU" in r.reason for r in rec.rejected)
    # the GPU holds one component and its stage; the RAM the rest
    assert [u.device for u in rec.plan.per_device] == ["gpu:0", "cpu"]


def test_memory_grows_with_batch_and_resolution():
    a100 = machine([gpu(0, "NVIDIA A100 80GB", 80, "8.0")], ram_gib=256)

    def total(**kw):
        r = decide(catalog.spec_for("stable-diffusion-v1-5"), a100, Request(precision="fp16", placement="single-gpu",
                                                                             **kw))
        assert r.plan is not None
        return r.plan.memory.total_bytes

    assert total(batch=1) < total(batch=4) < total(batch=16)
    assert total(image_size=(512, 512)) < total(image_size=(768, 768)) < total(image_size=(1024, 1024))


def test_settings_and_units(tmp_path):
    snap = tmp_path / "4090.json"
    snap.write_text(machine([gpu(0, "NVIDIA GeForce RTX 4090", 24, "8.9", 23)]).to_json())
    out = runner.invoke(app, ["fit", "sdxl", "--resolution", "1024", "--batch", "4", "--steps", "40", "--hardware",
                              str(snap)])
    assert out.exit_code == 0, out.output
    text = out.stdout
    assert "1024x1024 images, batch 4, 40 steps" in text and re.search(r"largest batch \d+ images at 1024x1024", text)
    assert "DiffusionPipeline.from_pretrained('stabilityai/stable-diffusion-xl-base-1.0', torch_dtype=torch.float16)" \
        in text
    assert "num_images_per_prompt=4, num_inference_steps=40" in text and "KV cache" not in text


@pytest.mark.parametrize("args,needle", [
    (["sdxl", "--context", "77"], "--context / --prompt are token counts of LLMs"),
    (["sdxl", "--engine", "vllm"], "does not run diffusion pipelines here"),
    (["sdxl", "--steps", "0"], "--steps must be between 1 and 1000"),
    (["sdxl", "--resolution", "32"], "--resolution sides must be between 64 and 8192"),
    (["sdxl", "--image-size", "512", "--resolution", "512"], "name the same thing"),
    (["YOLOv8n", "--steps", "20"], "--steps applies to diffusion models"),
    (["llama3.1:8b", "--steps", "20"], "--steps applies to diffusion models"),
])
def test_options_that_do_not_apply_are_one_line_and_exit_2(args, needle, tmp_path):
    assert_refused(args, needle, tmp_path)


def test_cpu_estimate_covers_the_measured_stages():
    """SD 1.5's denoiser step (2 x batch latents) and VAE decode, measured on the CPU (benchmarks/data/
    cpu-diffusion.json; the text encoder was not built, so its weights are left out of the estimate compared)."""
    import json
    from pathlib import Path
    from statistics import median

    doc = json.loads((Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "cpu-diffusion.json").read_text())
    shape = catalog.spec_for("stable-diffusion-v1-5").diffusion
    assert shape is not None and len(doc["rows"]) >= 4
    text_encoder = shape.components["text_encoder"] * 4
    for row in doc["rows"]:
        mem = df.cpu_memory(shape, "fp32", row["resolution"], row["resolution"], row["batch"], offloaded=False)
        runs = row["peak_rss_stages_runs_bytes"]
        assert mem.total_bytes - text_encoder >= max(runs), row
        assert mem.typical_total_bytes is not None
        assert abs((mem.typical_total_bytes - text_encoder) / median(runs) - 1) <= 0.10, row
