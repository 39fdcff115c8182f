"""Trace the live activation memory of vision models' forward passes, from their own definitions.

For every vision model of the catalog that torchvision or ultralytics defines, build it with random weights (no
downloads: torchvision's builders with weights=None, ultralytics' yaml files from its wheel), run one forward in
inference mode at several square image sizes, and record the peak of the bytes held by live tensors the forward
creates (the input image batch included, weights and buffers excluded). A TorchDispatchMode sees every tensor an
operator returns; a tensor's storage counts until the last tensor viewing it is gone. What this does not see is
scratch memory inside one kernel (oneDNN / cuDNN workspaces) and the allocator's own overhead: the engines' rules
add those, calibrated on measurements (benchmarks/measure_cpu_kinds.py).

The peak per image, in fp32 elements, is fitted as a + b*P + c*P^2 over the traced sizes (P = H*W pixels; c is
the attention scores of ViT-like models, which grow with tokens squared), then scaled up so that the fit is never
below a traced point. Writes the profiles into advisor/data/catalog.json (field `activation_profile`).

Needs the benchmark extra's torch + torchvision (+ ultralytics): pip install -e '.[vision-bench]'.
Usage: python benchmarks/trace_vision.py [--only NAME ...] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import weakref
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "advisor" / "data" / "catalog.json"


class LiveBytes:
    """Peak bytes of live tensor storages created while active (on the CPU or the meta device)."""

    def __init__(self) -> None:
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_flatten

        tracker = self
        self.refs: dict[int, list[int]] = {}  # storage address -> [tensors viewing it, bytes]
        self.current = 0
        self.peak = 0

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                out = func(*args, **(kwargs or {}))
                for t in tree_flatten(out)[0]:
                    if isinstance(t, torch.Tensor):
                        tracker.track(t)
                return out

        self.mode = Mode()

    def track(self, t: Any) -> None:
        storage = t.untyped_storage()
        # keyed by the storage itself (its C++ object), which meta tensors have too (they have no data pointer)
        key, size = storage._cdata, storage.nbytes()
        if not size:
            return
        entry = self.refs.get(key)
        if entry is None:
            self.refs[key] = entry = [0, size]
            self.current += size
            self.peak = max(self.peak, self.current)
        entry[0] += 1
        weakref.finalize(t, self._release, key)

    def _release(self, key: int) -> None:
        entry = self.refs.get(key)
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] <= 0:
            self.current -= entry[1]
            del self.refs[key]


def build(entry: dict[str, Any]) -> tuple[Any, str]:
    """The model of a catalog entry, random weights, eval mode; and the library it came from."""
    name = entry["name"]
    alias = next((a for a in entry.get("aliases", []) if a.startswith("torchvision.models.")), None)
    if alias or name == "ResNet-50":
        import torchvision

        builder = alias.rsplit(".", 1)[1] if alias else "resnet50"
        kwargs: dict[str, Any] = {"weights": None}
        if entry.get("family") == "ViT" and entry.get("default_image_size") not in (None, 224):
            kwargs["image_size"] = entry["default_image_size"]  # the SWAG weights' size (e.g. vit_h_14 at 518)
        if builder == "inception_v3":
            kwargs["init_weights"] = False  # scipy-free init; the shapes are the same
        if builder.startswith(("fasterrcnn", "maskrcnn", "keypointrcnn", "retinanet", "fcos", "ssd", "deeplab", "fcn",
                               "lraspp")):
            kwargs["weights_backbone"] = None
        return torchvision.models.get_model(builder, **kwargs).eval(), f"torchvision {torchvision.__version__}"
    import ultralytics
    from ultralytics.nn.tasks import ClassificationModel, DetectionModel, PoseModel, SegmentationModel

    stem = name.lower().replace("-n", "n").replace("-s", "s") if name.startswith("YOLOv8") else name
    task = entry.get("task")
    cls = {"segmentation": SegmentationModel, "classification": ClassificationModel,
           "keypoints": PoseModel}.get(task or "", DetectionModel)
    model = cls(f"{stem.lower()}.yaml", verbose=False)
    return model.fuse(verbose=False).eval(), f"ultralytics {ultralytics.__version__}"  # predict() fuses Conv+BN


def fixed_size(entry: dict[str, Any]) -> int | None:
    """torchvision ViTs and MaxViT check the input against the size they were built for (vision_transformer.py,
    maxvit.py)."""
    return entry.get("default_image_size") if entry.get("family") in ("ViT", "MaxViT") else None


def sizes_for(entry: dict[str, Any]) -> list[int]:
    base = entry.get("default_image_size") or 224
    stride = 224 if entry.get("family") == "MaxViT" else 32  # MaxViT's 7x7 windows at stride 32 need 224k sides
    return sorted({max(stride * 2, round(base * f / stride) * stride) for f in (0.5, 1.0, 1.5, 2.0)})


def trace(model: Any, size: int, batch: int = 1) -> int:
    import torch

    tracker = LiveBytes()
    with torch.inference_mode():
        x = torch.randn(batch, 3, size, size)
        tracker.track(x)
        with tracker.mode:
            out = model(x)
        del out, x
    return tracker.peak


def fit(points: list[tuple[int, int]]) -> tuple[list[float], float]:
    """a + b*P + c*P^2 (elements, P pixels) by least squares with a, b, c >= 0, scaled to cover every point."""
    import numpy as np
    from scipy.optimize import nnls

    p = np.array([s * s for s, _ in points], dtype=float)
    y = np.array([e for _, e in points], dtype=float)
    scale = np.array([1.0, p.max(), p.max() ** 2])
    coef, _ = nnls(np.stack([np.ones_like(p), p, p * p], axis=1) / scale, y)
    coef = coef / scale
    fitted = coef[0] + coef[1] * p + coef[2] * p * p
    cover = float(max(1.0, (y / fitted).max()))
    worst_over = float(((fitted * cover) / y).max() - 1)
    return [float(v * cover) for v in coef], worst_over


def refit() -> int:
    """Fit the stored traced points again (after a change to `fit`), without tracing."""
    catalog = json.loads(CATALOG.read_text())
    for entry in catalog["models"]:
        profile = entry.get("activation_profile")
        if not profile:
            continue
        points = [(t["image_size"], t["elements"]) for t in profile["traced"]]
        coef, over = fit(points) if len(points) > 2 else ([float(points[0][1]), 0.0, 0.0], 0.0)
        profile["elements_per_image"], profile["fit_worst_over"] = coef, round(over, 4)
    tmp = CATALOG.with_suffix(".tmp")
    tmp.write_text(json.dumps(catalog, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(CATALOG)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="Catalog names to trace (default: every traceable vision model)")
    parser.add_argument("--dry-run", action="store_true", help="Print, do not write the catalog")
    parser.add_argument("--refit", action="store_true", help="Refit the stored traced points (no tracing)")
    args = parser.parse_args()
    if args.refit:
        return refit()
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(2)
    catalog = json.loads(CATALOG.read_text())
    done = 0
    for entry in catalog["models"]:
        if entry.get("modality") != "vision" or (args.only and entry["name"] not in args.only):
            continue
        start = time.monotonic()
        try:
            model, library = build(entry)
        except Exception as exc:  # a model this script cannot build is reported, not guessed
            print(f"{entry['name']}: not built ({type(exc).__name__}: {exc})", file=sys.stderr)
            continue
        fixed = fixed_size(entry)
        sizes = [fixed] if fixed else sizes_for(entry)
        try:
            points = [(s, trace(model, s) // 4) for s in sizes]  # fp32 elements
            batch2 = trace(model, sizes[len(sizes) // 2], batch=2) // 4
        except Exception as exc:
            print(f"{entry['name']}: forward failed ({type(exc).__name__}: {exc})", file=sys.stderr)
            continue
        coef, over = fit(points) if len(points) > 2 else ([float(points[0][1]), 0.0, 0.0], 0.0)
        entry["activation_profile"] = {
            "elements_per_image": coef,  # full precision: c (per P^2) is small
            "formula": "a + b*P + c*P^2 elements of the activation dtype per image, P = H*W pixels",
            "traced": [{"image_size": s, "elements": e} for s, e in points],
            "batch2_elements": {"image_size": sizes[len(sizes) // 2], "elements": batch2},
            "fixed_image_size": fixed,
            "fit_worst_over": round(over, 4),
            "source": f"benchmarks/trace_vision.py: live tensors of one forward in inference mode, {library}, "
                      f"torch {torch.__version__}, random weights"}
        done += 1
        print(f"{entry['name']:<40} {library:<22} sizes {sizes} peak/img {[e for _, e in points]} "
              f"batch2/batch1 {batch2 / points[len(points) // 2][1]:.3f} over {over:+.1%} "
              f"({time.monotonic() - start:.1f} s)", flush=True)
        del model
    if not args.dry_run:
        tmp = CATALOG.with_suffix(".tmp")
        tmp.write_text(json.dumps(catalog, indent=1, ensure_ascii=False) + "\n")
        tmp.replace(CATALOG)
    print(f"{done} models traced", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
