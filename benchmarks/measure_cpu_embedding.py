"""Measure encoders' and embedding models' real memory on the CPU with transformers: peak during one forward.

Run:  python benchmarks/measure_cpu_embedding.py [--out benchmarks/data/cpu-embedding.json] [--threads 2] [--runs 2]
Needs torch and transformers. No downloads: each model is built from the catalog's config with random weights
(AutoModel.from_config without transformers' init, every weight filled from a pool: the resident size is the
weights', as after loading), in fp32, with the default (sdpa) attention.

Each row (model, tokens per input, batch) runs in fresh processes (`--one ...`): import torch + transformers (the
process baseline), build the model, make random token ids (batch x tokens) and an all-ones attention mask, reset the
kernel's peak-RSS mark (5 > /proc/self/clear_refs), run one forward in inference mode and read VmHWM.
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

DEFAULT_OUT = ROOT / "benchmarks" / "data" / "cpu-embedding.json"
MATRIX: list[tuple[str, int, int]] = [
    (m, t, b) for m in ("all-MiniLM-L6-v2", "multilingual-e5-base", "bge-large-en-v1.5", "xlm-roberta-large")
    for t, b in ((128, 1), (128, 32), (512, 1), (512, 8))
] + [("Qwen3-Embedding-0.6B", t, b) for t, b in ((128, 1), (512, 4), (2048, 1))]
CALIBRATION_MODELS = ("all-MiniLM-L6-v2", "bge-large-en-v1.5", "Qwen3-Embedding-0.6B")  # BERTs and a decoder
PEAK = "peak_rss_forward_bytes"


def measure_one(name: str, tokens: int, batch: int, threads: int) -> dict[str, Any]:
    entry, rss_python, rss_imports = fresh_rows.begin(name, threads, ("transformers", "transformers.initialization"))
    import torch
    import transformers
    from transformers.initialization import no_init_weights

    cfg = dict(entry["config"])
    model_type = cfg.pop("model_type")
    cfg.pop("torch_dtype", None)
    config = transformers.AutoConfig.for_model(model_type, **cfg)
    with no_init_weights():
        model = transformers.AutoModel.from_config(config, attn_implementation="sdpa")
    fill_from_pool(model, torch.float32)
    model.eval()
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    weight_bytes += sum(b.numel() * b.element_size() for b in model.buffers())
    rss_loaded = _status_bytes("VmRSS")
    ids = torch.randint(5, config.vocab_size, (batch, tokens))
    mask = torch.ones_like(ids)
    _reset_peak()
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask)
    seconds = time.perf_counter() - t0
    peak = _status_bytes("VmHWM")
    assert out.last_hidden_state.shape[:2] == (batch, tokens)
    return {"model": entry["name"], "tokens": tokens, "batch": batch, "dtype": "float32", "weight_bytes": weight_bytes,
            "rss_python_bytes": rss_python, "rss_after_imports_bytes": rss_imports, "rss_after_load_bytes": rss_loaded,
            PEAK: peak, "forward_seconds": round(seconds, 2),
            "conditions": conditions(transformers=transformers.__version__,
                                     attn_implementation=model.config._attn_implementation)}


def main(argv: list[str] | None = None) -> int:
    return fresh_rows.run_script(
        argv, script=__file__, description=__doc__.splitlines()[0], default_out=DEFAULT_OUT,
        metavars=("NAME", "TOKENS", "BATCH"), measure_one=measure_one, matrix=MATRIX, peak_key=PEAK,
        about="Encoders and embedding models on the CPU with HF transformers (fp32, sdpa): resident size after imports "
              "and after building, and the peak resident size (VmHWM, reset after building) during one forward of "
              "batch x tokens; bytes. Measured by benchmarks/measure_cpu_embedding.py, random weights, fresh "
              "processes; the row's fields are its worst run's.", calibration_models=CALIBRATION_MODELS)


if __name__ == "__main__":
    sys.exit(main())
