"""In-process time to resolve models (targets: catalog name < 50 ms; 50-shard safetensors dir < 200 ms).

Run: python benchmarks/bench_models.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from advisor.models import catalog  # noqa: E402
from advisor.models.resolve import resolve  # noqa: E402
from tests.model_files import write_model_dir  # noqa: E402


def timed(fn, runs: int = 20) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times[0], statistics.median(times)


def main() -> None:
    start = time.perf_counter()
    resolve("Llama-3.1-8B-Instruct")
    first = (time.perf_counter() - start) * 1000
    print(f"catalog name, first call in this process (loads the catalog): {first:7.2f} ms")

    def fresh() -> None:
        catalog.spec_for.cache_clear()
        resolve("qwen2.5:7b")

    _, med = timed(fresh)
    print(f"catalog name, uncached spec, median of 20:                {med:7.2f} ms")
    # A Llama-2-70B-shaped directory (80 layers -> 723 tensors) in 50 shards; small dims, same header work.
    cfg = dict(model_type="llama", hidden_size=64, num_hidden_layers=80, num_attention_heads=4, num_key_value_heads=1,
               intermediate_size=128, vocab_size=100, max_position_embeddings=4096, torch_dtype="bfloat16")
    with tempfile.TemporaryDirectory() as tmp:
        d = write_model_dir(Path(tmp) / "llama70b-shaped", cfg, shards=50)
        first_dir, med_dir = timed(lambda: resolve(str(d)))
        spec = resolve(str(d))
        print(f"50-shard safetensors directory ({len(list(d.glob('*.safetensors')))} shards), first {first_dir:.2f} ms, "
              f"median {med_dir:7.2f} ms (params {spec.params_total:,})")


if __name__ == "__main__":
    main()
