"""Measure vision models' real memory on the CPU: resident size after building, peak during inference.

Run:  python benchmarks/measure_cpu_kinds.py [--out benchmarks/data/cpu-vision.json] [--threads 2] [--runs 2]
                                             [--only NAME ...]
Needs the benchmark extra (pip install -e ".[vision-bench]": torch + torchvision + ultralytics). No downloads:
torchvision models come from their builders with weights=None, ultralytics models from the yaml files in its
wheel (fused as predict() fuses them), all with random weights.

Each row (model, image size, batch) runs in fresh Python processes (`--one NAME SIZE BATCH`), each of which
  1. imports torch and the model's library and records the resident size (the process baseline),
  2. builds the model and records the resident size (weights in),
  3. makes the input batch (batch x 3 x size x size, fp32), resets the kernel's peak-RSS mark (writing 5 to
     /proc/self/clear_refs; Linux), runs one forward in inference mode and reads the peak (VmHWM) back.
The row keeps its worst run and lists every run's peak (the peak moves between processes with the holes glibc
leaves in the heap; see benchmarks/measure_cpu.py). Conditions (library versions, threads, CPU) are recorded.
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
from benchmarks.measure_cpu import _reset_peak, _status_bytes  # noqa: E402

DEFAULT_OUT = ROOT / "benchmarks" / "data" / "cpu-vision.json"

# (catalog name, image sizes, batches): classifiers and detectors of the families people deploy, CNNs and
# transformers, small and large; each at its default size and a larger one, at batch 1 and a larger batch
MATRIX: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = [
    ("ResNet-50", (224, 448), (1, 16)),
    ("resnet18", (224, 448), (1, 16)),
    ("mobilenet_v3_large", (224, 448), (1, 16)),
    ("efficientnet_b0", (224, 448), (1, 16)),
    ("convnext_tiny", (224, 448), (1, 8)),
    ("vit_b_16", (224,), (1, 16)),
    ("swin_t", (224, 448), (1, 8)),
    ("densenet121", (224, 448), (1, 8)),
    ("YOLOv8n", (640, 1280), (1, 8)),
    ("YOLOv8m", (640, 1280), (1, 4)),
    ("yolo11s", (640, 1280), (1, 4)),
    ("yolo11n-seg", (640,), (1, 8)),
    ("yolo11n-cls", (224,), (1, 32)),
]
CALIBRATION_MODELS = ("ResNet-50", "mobilenet_v3_large", "vit_b_16", "densenet121", "YOLOv8n", "yolo11n-seg",
                      "convnext_tiny")


def measure_one(name: str, size: int, batch: int, threads: int) -> dict[str, Any]:
    rss_python = _status_bytes("VmRSS")
    import torch

    from advisor.models import catalog
    from benchmarks.trace_vision import build

    torch.set_num_threads(threads)
    entry = catalog.find(name)
    if entry is None:
        raise SystemExit(f"{name} is not in the catalog")
    if any(a.startswith("torchvision.") for a in entry.get("aliases", [])) or name == "ResNet-50":
        import torchvision  # noqa: F401  (the library's import is part of the baseline)
        library = "torchvision"
    else:
        import ultralytics  # noqa: F401
        library = "ultralytics"
    rss_imports = _status_bytes("VmRSS")
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model, version = build(entry)
    load_s = time.perf_counter() - t0
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    weight_bytes += sum(b.numel() * b.element_size() for b in model.buffers())
    rss_loaded = _status_bytes("VmRSS")
    x = torch.randn(batch, 3, size, size)
    _reset_peak()
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model(x)
    run_s = time.perf_counter() - t0
    peak = _status_bytes("VmHWM")
    del out
    return {"model": entry["name"], "library": library, "image_size": size, "batch": batch, "dtype": "float32",
            "weight_bytes": weight_bytes, "rss_python_bytes": rss_python, "rss_after_imports_bytes": rss_imports,
            "rss_after_load_bytes": rss_loaded, "peak_rss_inference_bytes": peak,
            "load_seconds": round(load_s, 2), "inference_seconds": round(run_s, 2),
            "conditions": conditions(library=version)}


def main(argv: list[str] | None = None) -> int:
    keys = [(name, size, batch) for name, sizes, batches in MATRIX for size in sizes for batch in batches]
    return fresh_rows.run_script(
        argv, script=__file__, description=__doc__.splitlines()[0], default_out=DEFAULT_OUT,
        metavars=("NAME", "SIZE", "BATCH"), measure_one=measure_one, matrix=keys, peak_key="peak_rss_inference_bytes",
        about="Vision models on the CPU (PyTorch eager, fp32): resident size after imports and after building, and the "
              "peak resident size (VmHWM, reset after building) during one forward in inference mode, per model, "
              "square image size and batch; bytes. Measured by benchmarks/measure_cpu_kinds.py, random weights, fresh "
              "processes; the row's fields are its worst run's.", calibration_models=CALIBRATION_MODELS)


if __name__ == "__main__":
    sys.exit(main())
