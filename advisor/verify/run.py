"""The measuring child's start, time limit and clean-up.

The child runs in its own session (process group): a time limit, or Ctrl-C in the parent, kills the whole group, so
nothing it started outlives advisor; the job file lives in a temporary directory removed on the way out. The
child's environment keeps the Hub offline (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE): it builds from the config it is
handed and reads nothing else.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from advisor.verify.child import EXIT_NOT_BUILDABLE

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
               "TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error", "PYTHONWARNINGS": "ignore"}


class RunFailed(Exception):
    """The child did not measure: timed out, was killed (out of memory), or failed; `not_buildable` when the
    installed transformers cannot build the model."""

    def __init__(self, message: str, not_buildable: bool = False) -> None:
        super().__init__(message)
        self.not_buildable = not_buildable


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process that survives SIGKILL
        pass


def run_child(job: dict[str, Any], timeout_s: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Measure `job` in a fresh process (advisor.verify.child) within `timeout_s` seconds; its JSON result."""
    with tempfile.TemporaryDirectory(prefix="advisor-verify-") as tmp:
        path = Path(tmp) / "job.json"
        path.write_text(json.dumps({**job, "scratch": tmp}))  # where the child may write (a synthetic GGUF)
        # caches torch may write (inductor, triton) go to the temporary directory and away with it
        scratch = {"TORCHINDUCTOR_CACHE_DIR": str(Path(tmp) / "inductor"), "TRITON_CACHE_DIR": str(Path(tmp) / "triton")}
        child_env = {**os.environ, **OFFLINE_ENV, **scratch, **(env or {})}
        proc = subprocess.Popen([sys.executable, "-m", "advisor.verify.child", str(path)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True, env=child_env, cwd=tmp)
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise RunFailed(f"the measurement ran past its time limit ({timeout_s:g} s; --timeout sets it) and was "
                            "stopped") from None
        except BaseException:  # Ctrl-C: the child's whole group goes with us
            _kill(proc)
            raise
    if proc.returncode == 0:
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if lines:
            return dict(json.loads(lines[-1]))
        raise RunFailed("the measuring process printed no result")
    said = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    why = said[-1].removeprefix("error: ") if said else (err.strip().splitlines() or [""])[-1][:300]
    if proc.returncode < 0:
        sig = signal.Signals(-proc.returncode).name
        more = " (the kernel's out-of-memory killer, most likely)" if sig == "SIGKILL" else ""
        raise RunFailed(f"the measuring process was killed by {sig}{more}")
    raise RunFailed(why or f"the measuring process exited with {proc.returncode}",
                    not_buildable=proc.returncode == EXIT_NOT_BUILDABLE)
