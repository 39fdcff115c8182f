"""The CPU range fit shared by the non-LLM calibrations (calibration_vision.py, calibration_speech.py).

Rows are measured runs: `weight_bytes`, `rss_after_load_runs_bytes`, and the peaks under `peak_key`. Given each
row's live bytes as the workload models them, the fit returns, on the calibration rows:
  - the process (RSS after building minus the weights) per group (a library): typical = the median run, worst = the
    largest;
  - typical working memory = factor x live + base, by least squares on the median run's peak;
  - the holes allowance (k x live + c) that puts typical + allowance (over the worst process) at or above every
    run of every row with the smallest largest over-estimate (k on a 0.02 grid).
"""

from __future__ import annotations

from collections.abc import Callable
from statistics import median
from typing import Any


def fit_range(rows: list[dict[str, Any]], live: Callable[[dict[str, Any]], float], peak_key: str,
              group: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    process_typical: dict[str, int] = {}
    process_worst: dict[str, int] = {}
    for g in sorted({group(r) for r in rows}):
        extra = [v - r["weight_bytes"] for r in rows if group(r) == g for v in r["rss_after_load_runs_bytes"]]
        process_typical[g] = int(median(extra))
        process_worst[g] = int(max(extra))
    xs = [live(r) for r in rows]
    ys = [median(r[peak_key]) - r["weight_bytes"] - process_typical[group(r)] for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    factor = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    base = my - factor * mx
    best: tuple[float, float, float] | None = None
    for k100 in range(0, 101, 2):
        k = k100 / 100

        def worst_before_c(r: dict[str, Any], x: float, k: float = k) -> float:
            return r["weight_bytes"] + process_worst[group(r)] + (factor + k) * x + base

        c = max(max(r[peak_key]) - worst_before_c(r, x) for r, x in zip(rows, xs, strict=True))
        over = max((worst_before_c(r, x) + c) / max(r[peak_key]) - 1 for r, x in zip(rows, xs, strict=True))
        if best is None or over < best[0]:
            best = (over, k, c)
    assert best is not None
    return {"factor": factor, "base": base, "holes_factor": best[1], "holes_base": best[2],
            "process_typical": process_typical, "process_worst": process_worst}


def report(doc: dict[str, Any], estimate: Callable[[dict[str, Any]], Any], peaks_key: str,
           describe: Callable[[dict[str, Any]], str]) -> dict[str, list[tuple[float, float]]]:
    """Print every row's typical estimate against its median run and its worst against its worst run, then each
    half's range; return the errors by half."""
    mib = 1024**2
    errors: dict[str, list[tuple[float, float]]] = {"calibration": [], "held-out": []}
    for r in doc["rows"]:
        mem = estimate(r)
        runs = r[peaks_key]
        typ = mem.typical_total_bytes or mem.total_bytes
        e_typ, e_worst = typ / median(runs) - 1, mem.total_bytes / max(runs) - 1
        half = "calibration" if r["model"] in doc["calibration_models"] else "held-out"
        errors[half].append((e_typ, e_worst))
        print(f"{half:<12}{describe(r):<44} typical {typ / mib:6.0f} vs median {median(runs) / mib:6.0f} MiB "
              f"({e_typ:+6.1%}); worst {mem.total_bytes / mib:6.0f} vs {max(runs) / mib:6.0f} MiB ({e_worst:+6.1%})")
    for half, errs in errors.items():
        if errs:
            t, w = sorted(e[0] for e in errs), sorted(e[1] for e in errs)
            print(f"{half}: {len(errs)} rows; typical vs the median run {t[0]:+.1%} to {t[-1]:+.1%} (median "
                  f"{t[len(t) // 2]:+.1%}); worst vs the worst run {w[0]:+.1%} to {w[-1]:+.1%} (median "
                  f"{w[len(w) // 2]:+.1%})")
    return errors


def constants_line(f: dict[str, Any]) -> str:
    mib = 1024**2
    groups = ", ".join(f"{g} {f['process_typical'][g] / mib:.0f}-{f['process_worst'][g] / mib:.0f} MiB"
                       for g in f["process_typical"])
    return (f"typical {f['factor']:.3f} x live + {f['base'] / mib:.0f} MiB; holes {f['holes_factor']:.2f} x live + "
            f"{f['holes_base'] / mib:.0f} MiB; process (typical-worst) {groups}")


def print_calibration(doc: dict[str, Any], fitted: dict[str, Any], workload: Any,
                      estimate: Callable[[dict[str, Any]], Any], peaks_key: str,
                      describe: Callable[[dict[str, Any]], str]) -> None:
    """The fitted constants, the ones `workload` (a module with CPU_FACTOR, CPU_BASE, CPU_HOLES_FACTOR,
    CPU_HOLES_BASE, CPU_PROCESS_TYPICAL, CPU_PROCESS) carries, and every row against its estimate."""
    mib = 1024**2
    print("fitted on the calibration half:", constants_line(fitted))
    print(f"in {workload.__name__}: typical {workload.CPU_FACTOR} x live + {workload.CPU_BASE / mib:.0f} MiB; holes "
          f"{workload.CPU_HOLES_FACTOR} x live + {workload.CPU_HOLES_BASE / mib:.0f} MiB; process "
          f"{workload.CPU_PROCESS_TYPICAL / mib:.0f}-{workload.CPU_PROCESS / mib:.0f} MiB")
    report(doc, estimate, peaks_key, describe)
