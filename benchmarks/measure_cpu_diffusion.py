"""Measure a diffusion pipeline's stages' real memory on the CPU: the denoiser step and the VAE decode.

Run:  python benchmarks/measure_cpu_diffusion.py [--out benchmarks/data/cpu-diffusion.json] [--threads 2] [--runs 2]
Needs torch and diffusers (the vision-bench venv with diffusers). No downloads: the UNet and the VAE are built from
the component configs the catalog stores (random weights, filled from a pool: the resident size is the weights').

Each row (model, resolution, batch) runs in fresh processes (`--one ...`): import torch + diffusers, build the UNet
and the VAE in fp32, reset the kernel's peak-RSS mark, run one denoiser step for 2 x batch latents (classifier-free
guidance) with random text embeddings, then the VAE decode of `batch` latents, and read VmHWM. The text encoders
are not built (their 77-token forward is small beside these stages); their weights are not in the measured RSS, so
the row's weight_bytes counts the UNet and the VAE only.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from advisor.verify.rss import conditions  # noqa: E402
from benchmarks import fresh_rows  # noqa: E402
from benchmarks.measure_cpu import _reset_peak, _status_bytes, fill_from_pool  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "data" / "cpu-diffusion.json"
MATRIX: list[tuple[str, int, int]] = [("stable-diffusion-v1-5", r, b) for r, b in ((256, 1), (256, 2), (512, 1),
                                                                                    (512, 2))]
PEAK = "peak_rss_stages_bytes"


def measure_one(name: str, resolution: int, batch: int, threads: int) -> dict[str, Any]:
    entry, rss_python, rss_imports = fresh_rows.begin(name, threads, ("diffusers",))
    import diffusers
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel

    comps = entry["components"]
    unet_cfg = {k: v for k, v in comps["unet"]["config"].items() if not k.startswith("_")}
    vae_cfg = {k: v for k, v in comps["vae"]["config"].items() if not k.startswith("_")}
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(unet_cfg)
        vae = AutoencoderKL.from_config(vae_cfg)
    unet, vae = unet.to_empty(device="cpu").eval(), vae.to_empty(device="cpu").eval()
    fill_from_pool(unet, torch.float32)
    fill_from_pool(vae, torch.float32)
    weight_bytes = sum(p.numel() * 4 for m in (unet, vae) for p in m.parameters())
    rss_loaded = _status_bytes("VmRSS")
    side = resolution // 8
    latents = torch.randn(2 * batch, 4, side, side)
    text = torch.randn(2 * batch, 77, unet_cfg["cross_attention_dim"])
    _reset_peak()
    t0 = time.perf_counter()
    with torch.inference_mode():
        noise = unet(latents, torch.tensor([500] * 2 * batch), encoder_hidden_states=text).sample
        del latents, text
        images = vae.decode(noise[:batch] / vae_cfg.get("scaling_factor", 0.18215)).sample
    seconds = time.perf_counter() - t0
    peak = _status_bytes("VmHWM")
    assert images.shape == (batch, 3, resolution, resolution)
    return {"model": entry["name"], "resolution": resolution, "batch": batch, "dtype": "float32",
            "weight_bytes": weight_bytes, "rss_python_bytes": rss_python, "rss_after_imports_bytes": rss_imports,
            "rss_after_load_bytes": rss_loaded, PEAK: peak, "seconds": round(seconds, 2),
            "conditions": conditions(diffusers=diffusers.__version__)}


def main(argv: list[str] | None = None) -> int:
    return fresh_rows.run_script(
        argv, script=__file__, description=__doc__.splitlines()[0], default_out=DEFAULT_OUT,
        metavars=("NAME", "RESOLUTION", "BATCH"), measure_one=measure_one, matrix=MATRIX, peak_key=PEAK,
        about="Stable Diffusion stages on the CPU (diffusers, fp32): resident size after imports and after building "
              "the UNet and the VAE, and the peak resident size (VmHWM, reset after building) during one denoiser step "
              "for 2 x batch latents and the VAE decode of batch latents; bytes. Measured by "
              "benchmarks/measure_cpu_diffusion.py, random weights, fresh processes; the row's fields are its worst "
              "run's. A check of the estimate, not a calibration (no held-out half: one model).",
        calibration_models=[])


if __name__ == "__main__":
    sys.exit(main())
