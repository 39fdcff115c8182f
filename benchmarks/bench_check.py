"""Wall time of `advisor check <catalog model> --json` as a subprocess, against `python -c pass` in the same run,
and the floor the CLI library sets: a typer app with check's options that does nothing (typer >= 0.2x builds a
pydantic TypeAdapter per option, so `import pydantic` and those builds are paid before any of advisor's code).

Run: python benchmarks/bench_check.py
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _timing import compare_with_bare_python  # noqa: E402

FLOOR = """
import sys, typer
app = typer.Typer()
@app.command()
def check(model: str, context: str = None, batch: int = 1, mode: str = "inference", engine: str = "auto",
          precision: str = "auto", kv_dtype: str = "auto", headroom: str = None, gpus: str = None,
          method: str = "detailed", hardware: str = None, gpu: str = None, gpu_memory_utilization: float = None,
          allow_approximate: bool = False, extend_context: bool = False, fmt: str = "text", json_out: bool = False):
    pass
@app.callback()
def root(debug: bool = False):
    pass
app(args=sys.argv[1:], standalone_mode=False)
"""

if __name__ == "__main__":
    compare_with_bare_python([
        ("typer floor: the same options, no work", ["-c", FLOOR, "check", "llama3.1:8b", "--json-out"], 15),
        ("advisor check llama3.1:8b --json (probes here)", ["-m", "advisor", "check", "llama3.1:8b", "--json"], 15),
        ("advisor check qwen2.5:72b --gpu '2x H100' --json", ["-m", "advisor", "check", "qwen2.5:72b", "--gpu", "2x H100",
                                                              "--json"], 15),
        ("advisor fit llama3.1:8b --json", ["-m", "advisor", "fit", "llama3.1:8b", "--json"], 9),
    ])
