"""Estimate vs measured, for every row of every dataset shipped with the project.

Run: python benchmarks/compare.py [--plot [DIR]]   (--plot: one SVG per dataset, by default into docs/plots/)
Rows measured in several processes show each run's range beside them; "measured" is the worst run.
Datasets: tests/data/measured-dev.json (published HF transformers GPU peaks, the calibration rows),
tests/data/measured-heldout.json (the same benchmark's other 100 rows, held out),
tests/data/measured-qwen3-lowerbound.json (the Qwen3 benchmark's 80 rows on an H20: a lower bound), tests/data/gguf-dev.json
(published GGUF sizes), and benchmarks/data/*.json when present (measured CPU / GPU rows).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.calibration import cpu_comparisons, cpu_cross_validation, cpu_rows, gguf_rows, measured_rows  # noqa: E402


def other_kinds() -> None:
    """The vision, speech and embedding CPU datasets against their workloads' ranges, and the diffusion check."""
    import json

    from benchmarks import calibration_embedding, calibration_speech, calibration_vision
    from benchmarks.range_fit import report

    data = ROOT / "benchmarks" / "data"
    for title, path, module, peaks, describe in (
        ("cpu-vision.json", data / "cpu-vision.json", calibration_vision, "peak_rss_inference_runs_bytes",
         lambda r: f"{r['model']} {r['image_size']} x{r['batch']}"),
        ("cpu-speech.json", data / "cpu-speech.json", calibration_speech, calibration_speech.PEAKS,
         lambda r: f"{r['model']} x{r['batch']} beams {r['beams']} tokens {r['new_tokens']}"),
        ("cpu-embedding.json", data / "cpu-embedding.json", calibration_embedding, calibration_embedding.PEAKS,
         lambda r: f"{r['model']} x{r['batch']} tokens {r['tokens']}"),
    ):
        if path.exists():
            print(f"\n{title} (typical vs the median run, worst vs the worst run):")
            report(json.loads(path.read_text()), module.estimate, peaks, describe)


def main(argv: list[str]) -> int:
    rows = (measured_rows(ROOT / "tests" / "data" / "measured-dev.json")
            + measured_rows(ROOT / "tests" / "data" / "measured-heldout.json")
            + measured_rows(ROOT / "tests" / "data" / "measured-qwen3-lowerbound.json")
            + gguf_rows(ROOT / "tests" / "data" / "gguf-dev.json"))
    for path in sorted((ROOT / "benchmarks" / "data").glob("cpu-transformers*.json")):  # token LLMs
        rows += cpu_comparisons(path)
    print(f"{'dataset':<36} {'row':<62} {'measured':>10} {'estimate':>10} {'error':>8}   runs (each run's peak)")
    for r in rows:
        runs = f"   {len(r.runs)}: {min(r.runs):.3f} to {max(r.runs):.3f}" if len(r.runs) > 1 else ""
        print(f"{r.dataset:<36} {r.label[:62]:<62} {r.measured:>10.3f} {r.estimate:>10.3f} {100 * (r.ratio - 1):>+7.2f}%{runs}")
    by_set: dict[str, list[float]] = {}
    for r in rows:
        by_set.setdefault(r.dataset, []).append(r.ratio - 1)
    print()
    for name, errs in by_set.items():
        under = sum(e < -0.0001 for e in errs)
        print(f"{name}: {len(errs)} rows, min {100 * min(errs):+.2f}%, median error {100 * statistics.median(errs):+.2f}%, "
              f"max {100 * max(errs):+.2f}%, below measured: {under}")
    other_kinds()
    for path in sorted((ROOT / "benchmarks" / "data").glob("cpu-transformers*.json")):
        print(f"\n{path.name}, leave one calibration model out (fit on the others, errors on the one left out):")
        for model, (low, high) in cpu_cross_validation(cpu_rows(path)).items():
            print(f"  {model:<28} {100 * low:+7.2f}% to {100 * high:+7.2f}%")
    if "--plot" in argv:
        from benchmarks.plots import write_plots

        i = argv.index("--plot")
        folder = Path(argv[i + 1]) if i + 1 < len(argv) and not argv[i + 1].startswith("-") else ROOT / "docs" / "plots"
        for path in write_plots(rows, folder):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
