"""Measure Whisper's real memory on the CPU with transformers: resident size after building, peak during generate.

Run:  python benchmarks/measure_cpu_speech.py [--out benchmarks/data/cpu-speech.json] [--threads 2] [--runs 2]
Needs torch and transformers (the vision-bench venv has both). No downloads: each model is built with random weights
from the catalog's config (WhisperForConditionalGeneration(WhisperConfig(...))).

Each row (model, batch of 30 s windows, beams, new tokens) runs in fresh processes (`--one ...`), each of which
imports torch + transformers (the process baseline), builds the model in fp32 (without transformers' init, then
every weight filled from a pool of random values, so the resident size is the weights', as after loading), makes random log-mel features
(batch x mel bins x 3000 frames), resets the kernel's peak-RSS mark (5 > /proc/self/clear_refs) and runs greedy or
beam-search generation of exactly `new tokens` tokens after the start token (GenerationMixin.generate: the decoder
loop without Whisper's language and timestamp logic, which needs the tokenizer's ids) and reads VmHWM.
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

DEFAULT_OUT = ROOT / "benchmarks" / "data" / "cpu-speech.json"
# (model, batch, beams, new tokens)
MATRIX: list[tuple[str, int, int, int]] = [
    (m, b, k, n) for m in ("whisper-tiny", "whisper-base", "whisper-small")
    for b, k in ((1, 1), (4, 1), (1, 4)) for n in (64, 224)
] + [("whisper-medium", 1, 1, 64), ("whisper-medium", 2, 1, 64), ("whisper-large-v3-turbo", 1, 1, 64)]
CALIBRATION_MODELS = ("whisper-tiny", "whisper-small")


def measure_one(name: str, batch: int, beams: int, new_tokens: int, threads: int) -> dict[str, Any]:
    entry, rss_python, rss_imports = fresh_rows.begin(name, threads, ("transformers", "transformers.generation.utils"))
    import torch
    import transformers
    from transformers.generation.utils import GenerationMixin
    cfg = {k: v for k, v in entry["config"].items() if k not in ("model_type", "architectures")}
    torch.manual_seed(0)
    from transformers.initialization import no_init_weights

    with no_init_weights():  # as a checkpoint load: no per-tensor init temporaries; then fill from a small pool
        model = transformers.WhisperForConditionalGeneration(transformers.WhisperConfig(**cfg)).eval()
    model.tie_weights()  # as from_pretrained does: proj_out is the decoder's token embedding
    assert model.proj_out.weight is model.model.decoder.embed_tokens.weight, "proj_out not tied"
    fill_from_pool(model, torch.float32)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    rss_loaded = _status_bytes("VmRSS")
    features = torch.randn(batch, cfg["num_mel_bins"], 3000)
    start = torch.full((batch, 1), 50258)
    _reset_peak()
    t0 = time.perf_counter()
    with torch.inference_mode():
        out = GenerationMixin.generate(model, input_features=features, decoder_input_ids=start,
                                       attention_mask=None, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                       num_beams=beams, do_sample=False, pad_token_id=50257, eos_token_id=50257)
    seconds = time.perf_counter() - t0
    peak = _status_bytes("VmHWM")
    assert out.shape == (batch, new_tokens + 1), out.shape
    return {"model": entry["name"], "batch": batch, "beams": beams, "new_tokens": new_tokens, "dtype": "float32",
            "weight_bytes": weight_bytes, "rss_python_bytes": rss_python, "rss_after_imports_bytes": rss_imports,
            "rss_after_load_bytes": rss_loaded, "peak_rss_generate_bytes": peak,
            "generate_seconds": round(seconds, 2),
            "conditions": conditions(transformers=transformers.__version__,
                                     attn_implementation=model.config._attn_implementation)}


def main(argv: list[str] | None = None) -> int:
    return fresh_rows.run_script(
        argv, script=__file__, description=__doc__.splitlines()[0], default_out=DEFAULT_OUT,
        metavars=("NAME", "BATCH", "BEAMS", "TOKENS"), measure_one=measure_one, matrix=MATRIX,
        peak_key="peak_rss_generate_bytes",
        about="Whisper on the CPU with HF transformers (fp32, sdpa): resident size after imports and after building "
              "(proj_out tied, as loaded), and the peak resident size (VmHWM, reset after building) during generation "
              "of exactly new_tokens tokens for `batch` 30 s windows with `beams` beams; bytes. Measured by "
              "benchmarks/measure_cpu_speech.py, random weights, fresh processes; the row's fields are its worst "
              "run's.", calibration_models=CALIBRATION_MODELS)


if __name__ == "__main__":
    sys.exit(main())
