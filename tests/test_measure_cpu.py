"""benchmarks/measure_cpu.py's bookkeeping (the measuring itself needs transformers and runs outside the suite)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "measure_cpu.py"
_spec = importlib.util.spec_from_file_location("measure_cpu", _PATH)
assert _spec and _spec.loader
measure_cpu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(measure_cpu)


def _run(peak: int, loaded: int, tag: str) -> dict:
    return {"model": "gpt2", "dtype": "float32", "prompt_tokens": 128, "batch": 1, "peak_rss_generate_bytes": peak,
            "rss_after_load_bytes": loaded, "generate_seconds": tag}


def test_a_row_keeps_its_worst_run_and_lists_them_all() -> None:
    row = measure_cpu._worst_run([_run(100, 10, "a"), _run(130, 11, "b"), _run(120, 12, "c")])
    assert row["peak_rss_generate_bytes"] == 130 and row["generate_seconds"] == "b" and row["rss_after_load_bytes"] == 11
    assert row["runs"] == 3
    assert row["peak_rss_generate_runs_bytes"] == [100, 130, 120]
    assert row["rss_after_load_runs_bytes"] == [10, 11, 12]


def test_added_runs_count_with_the_stored_row() -> None:
    stored = measure_cpu._worst_run([_run(100, 10, "a"), _run(130, 11, "b")])
    # new runs below the stored worst: the stored worst stays, the new runs are listed after the old ones
    kept = measure_cpu._worst_run([_run(125, 13, "c")], stored)
    assert kept["peak_rss_generate_bytes"] == 130 and kept["generate_seconds"] == "b"
    assert kept["runs"] == 3 and kept["peak_rss_generate_runs_bytes"] == [100, 130, 125]
    assert kept["rss_after_load_runs_bytes"] == [10, 11, 13]
    # a new run above it becomes the row
    raised = measure_cpu._worst_run([_run(140, 14, "d"), _run(90, 9, "e")], kept)
    assert raised["peak_rss_generate_bytes"] == 140 and raised["generate_seconds"] == "d"
    assert raised["runs"] == 5 and raised["peak_rss_generate_runs_bytes"] == [100, 130, 125, 140, 90]
    assert measure_cpu._key(raised) == ("gpt2", "float32", 128, 1)


def test_it_refuses_to_start_without_torch_and_transformers(monkeypatch, capsys, tmp_path) -> None:
    import importlib.util as iu

    real = iu.find_spec
    monkeypatch.setattr(iu, "find_spec", lambda name, *a: None if name == "transformers" else real(name, *a))
    out = tmp_path / "cpu.json"
    assert measure_cpu.main(["--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "transformers not installed" in err and err.count("\n") == 1
    assert not out.exists()
