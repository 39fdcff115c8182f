"""Trace the live activation memory of diffusion pipelines' stages, from their own definitions, on the meta device.

For the catalog's Stable Diffusion entries (SD 1.5, SDXL), build the denoiser (diffusers UNet2DConditionModel) and
the VAE (AutoencoderKL) from the component configs the catalog stores on the meta device (no weights, no compute, no downloads),
then trace with benchmarks/trace_vision.py's live-tensor tracker:
  - one denoiser step for one latent (classifier-free guidance runs two per image: the workload doubles it), at
    several resolutions;
  - the VAE decode of one latent to pixels (untiled), at several resolutions.
Each stage's peak per image is fitted as a + b*P + c*P^2 elements at P = H*W output pixels (benchmarks/trace_vision.fit)
and written to the catalog entry (`diffusion_profile`).

Needs the vision-bench venv plus diffusers. Usage: python benchmarks/trace_diffusion.py [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.trace_vision import CATALOG, LiveBytes, fit  # noqa: E402

RESOLUTIONS = {"stable-diffusion-v1-5": (256, 512, 768, 1024), "stable-diffusion-xl-base-1.0": (512, 768, 1024, 1536)}


def _config(component: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in component["config"].items() if not k.startswith("_")}


def trace_unet(cfg: dict[str, Any], resolution: int, xl: bool) -> int:
    import torch
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(cfg).eval()
    side = resolution // 8
    tracker = LiveBytes()
    with torch.inference_mode():
        x = torch.randn(1, cfg.get("in_channels", 4), side, side, device="meta")
        text = torch.randn(1, 77, cfg["cross_attention_dim"], device="meta")
        t = torch.tensor([500], device="meta")
        extra = {}
        if xl:
            extra = {"added_cond_kwargs": {"text_embeds": torch.randn(1, 1280, device="meta"),
                                           "time_ids": torch.randn(1, 6, device="meta")}}
        for v in (x, text):
            tracker.track(v)
        with tracker.mode:
            out = unet(x, t, encoder_hidden_states=text, **extra).sample
        del out
    return tracker.peak


def trace_vae_decode(cfg: dict[str, Any], resolution: int) -> int:
    import torch
    from diffusers import AutoencoderKL

    with torch.device("meta"):
        vae = AutoencoderKL.from_config(cfg).eval()
    side = resolution // 8
    tracker = LiveBytes()
    with torch.inference_mode():
        z = torch.randn(1, cfg.get("latent_channels", 4), side, side, device="meta")
        tracker.track(z)
        with tracker.mode:
            out = vae.decode(z).sample
        del out
    return tracker.peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    import diffusers
    import torch

    catalog = json.loads(CATALOG.read_text())
    for entry in catalog["models"]:
        name = entry["name"]
        if name not in RESOLUTIONS:
            continue
        comps = entry["components"]
        xl = "xl" in name
        unet_cfg, vae_cfg = _config(comps["unet"]), _config(comps["vae"])
        stages = {}
        for stage, fn in (("denoiser", lambda r, c=unet_cfg, x=xl: trace_unet(c, r, x)),
                          ("vae_decode", lambda r, c=vae_cfg: trace_vae_decode(c, r))):
            points = [(r, fn(r) // 4) for r in RESOLUTIONS[name]]
            coef, over = fit(points)
            stages[stage] = {"elements_per_image": coef, "traced": [{"resolution": r, "elements": e} for r, e in points],
                             "fit_worst_over": round(over, 4)}
            print(name, stage, points, f"over {over:+.1%}")
        entry["diffusion_profile"] = {
            **stages,
            "formula": "a + b*P + c*P^2 elements of the activation dtype per image per stage, P = H*W output pixels; "
                       "the denoiser's for one latent (classifier-free guidance runs two per image)",
            "default_resolution": RESOLUTIONS[name][1] if not xl else 1024,
            "source": f"benchmarks/trace_diffusion.py: live tensors of one denoiser step and one VAE decode on the meta "
                      f"device, diffusers {diffusers.__version__}, torch {torch.__version__}, component configs"}
    if not args.dry_run:
        tmp = CATALOG.with_suffix(".tmp")
        tmp.write_text(json.dumps(catalog, indent=1, ensure_ascii=False) + "\n")
        tmp.replace(CATALOG)
    return 0


if __name__ == "__main__":
    sys.exit(main())
