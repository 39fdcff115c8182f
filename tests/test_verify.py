"""advisor verify: the plan built from its config and measured in a child process, against the estimate.

The end-to-end tests run the real command in a subprocess with the network blocked (a sitecustomize that refuses
every socket connection, inherited by the measuring child) and compare with an independent measurement: a separate
process that builds the same model with transformers alone and reads its own peak resident size.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from advisor.models.resolve import resolve
from rules.engines.transformers import TRANSFORMERS_CPU_RUN_SPREAD

ROOT = Path(__file__).resolve().parents[1]
NO_NETWORK = '''
import socket
def _refuse(*args, **kwargs):
    raise OSError("network blocked by the test")
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
'''

pytestmark = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc marks")


@pytest.fixture
def offline_env(tmp_path: Path) -> dict[str, str]:
    """The environment of an advisor process with every socket connection refused (the child inherits it)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_NETWORK)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")])
    env.pop("HF_HUB_OFFLINE", None)  # the block, not the flag, keeps it offline
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    return env


def verify(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "advisor", "verify", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


def independent(name: str, dtype: str, prompt: int, steps: int, batch: int, tmp_path: Path,
                env: dict[str, str]) -> dict[str, Any]:
    from advisor.verify.config import config_for

    config = tmp_path / f"{name}.config.json"
    config.write_text(json.dumps(config_for(resolve(name))))
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "verify_independent.py"), str(config), dtype,
                           str(prompt), str(steps), str(batch)], capture_output=True, text=True, env=env, timeout=300,
                          check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def term(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in doc["terms"] if t["term"] == name)


@pytest.mark.slow
def test_smollm2_at_2048_agrees_with_an_independent_measurement(offline_env: dict[str, str], tmp_path: Path) -> None:
    done = verify(["SmolLM2-135M", "--context", "2048", "--engine", "transformers", "--runs", "2", "--json",
                   "--record"], offline_env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    spec = resolve("SmolLM2-135M")
    plan, run = doc["plan"], doc["measured_run"]
    assert plan["engine"] == "transformers" and plan["devices"] == ["cpu"] and plan["precision"] == "bf16"
    assert doc["chosen_because"] is None
    assert run["prompt_tokens"] == 2048 - 8 - 1 and run["decode_steps"] == 8 and run["runs"] == 2
    # the weights are exactly the parameters in bf16 (tied embeddings once): 134,515,008 x 2 bytes
    assert spec.params_total == 134_515_008
    assert term(doc, "weights")["measured_bytes"] == [134_515_008 * 2] * 2
    # the cache at the end: 30 layers x K and V x 3 KV heads x 64 x 2,047 tokens x 2 bytes
    assert term(doc, "KV cache")["measured_bytes"] == [30 * 2 * 3 * 64 * 2047 * 2] * 2
    # nothing half-written or left behind: the job's temporary directory (and torch's caches in it) is gone
    assert list(Path(offline_env["TMPDIR"]).iterdir()) == []
    ind = independent("SmolLM2-135M", "bfloat16", run["prompt_tokens"], 8, 1, tmp_path, offline_env)
    assert ind["param_bytes"] == 134_515_008 * 2 and ind["tokens"] == 2048
    assert ind["kv_bytes"] == term(doc, "KV cache")["median_bytes"]
    peak = doc["peak"]
    assert abs(peak["median_bytes"] - ind["peak_rss_bytes"]) <= TRANSFORMERS_CPU_RUN_SPREAD * ind["peak_rss_bytes"]
    assert doc["held"] and peak["max_bytes"] <= peak["estimate_worst_bytes"]

    # --record stored it; fit reads it back for the same configuration on this machine and says so
    listed = subprocess.run([sys.executable, "-m", "advisor", "inventory", "measurements", "--json"],
                            capture_output=True, text=True, env=offline_env, timeout=60, check=True)
    rows = json.loads(listed.stdout)["measurements"]
    assert len(rows) == 1 and rows[0]["measured"]["peak_bytes"] == peak["max_bytes"]
    fit = subprocess.run([sys.executable, "-m", "advisor", "fit", "SmolLM2-135M", "--context", "2048", "--engine",
                          "transformers", "--precision", "bf16", "--json"], capture_output=True, text=True,
                         env=offline_env, timeout=60, check=True)
    fitted = json.loads(fit.stdout)["plan"]
    assert fitted["measured_bytes"] == peak["max_bytes"]
    assert any("measured here by advisor verify" in n for n in fitted["notes"])
    assert fitted["memory"]["total_bytes"] >= peak["max_bytes"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Qwen2.5-0.5B-Instruct", "gpt2"])
def test_other_configs_measure_with_exact_weights(name: str, offline_env: dict[str, str]) -> None:
    done = verify([name, "--context", "256", "--runs", "1", "--json", "--engine", "transformers"], offline_env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    spec = resolve(name)
    width = {"fp32": 4, "bf16": 2}[doc["plan"]["precision"]]
    weights = term(doc, "weights")
    # the parameters at the plan's width, plus the model's buffers (none persistent beyond the rotary tables)
    assert spec.params_total * width <= weights["measured_bytes"][0] <= spec.params_total * width * 1.001
    assert weights["estimate_bytes"] == spec.params_total * width
    assert doc["held"], doc["peak"]


def test_what_if_machines_are_refused(offline_env: dict[str, str]) -> None:
    done = verify(["SmolLM2-135M", "--gpu", "RTX 4090"], offline_env, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "verify measures this machine" in done.stderr


@pytest.mark.parametrize(("args", "code", "needle"), [
    (["SmolLM2-135M", "--headroom", "99%"], 1, "--force runs it anyway"),
    (["SmolLM2-135M", "--engine", "transformers", "--precision", "nf4"], 1, "--force runs it anyway"),
    (["YOLOv8n"], 4, "vision model"),
    (["my-custom-llm-7b"], 3, "cannot tell"),
    (["SmolLM2-135M", "--decode-steps", "0"], 2, "--decode-steps must be at least 1"),
    (["SmolLM2-135M", "--runs", "0"], 2, "--runs must be between"),
])
def test_refusals_are_one_line_with_their_exit_code(args: list[str], code: int, needle: str,
                                                    offline_env: dict[str, str]) -> None:
    done = verify(args, offline_env, timeout=60)
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in done.stderr, done.stderr


def hide(module: str, tmp_path: Path) -> None:
    """Make `module` look not installed to the advisor processes started with offline_env."""
    blocker = tmp_path / "site" / "sitecustomize.py"
    blocker.write_text(blocker.read_text() + f'''
import importlib.abc, sys
class _Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {module!r} or name.startswith({module!r} + "."):
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, _Missing())
''')


def test_when_fit_plan_cannot_be_measured_the_best_one_that_can_is_and_it_says_so(offline_env: dict[str, str],
                                                                                   tmp_path: Path) -> None:
    hide("llama_cpp", tmp_path)  # fit's plan on this CPU is llama.cpp's
    done = verify(["SmolLM2-135M", "--context", "256", "--runs", "1", "--json"], offline_env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["plan"]["engine"] == "transformers"
    # BF16 where the CPU has AVX-512 BF16, F16 elsewhere: fit's own choice for this CPU
    assert re.search(r"fit's plan \((BF16|F16) with llama\.cpp, cpu\) cannot be measured here: llama_cpp is not "
                     r"installed", doc["chosen_because"]), doc["chosen_because"]


@pytest.mark.parametrize(("module", "args", "needle"), [
    ("transformers", ["--engine", "transformers"], 'transformers is not installed (pip install "local-advisor[verify]")'),
    ("llama_cpp", ["--precision", "Q4_K_M"], "llama_cpp is not installed (pip install llama-cpp-python)"),
])
def test_without_the_engine_library_it_says_so(module: str, args: list[str], needle: str, offline_env: dict[str, str],
                                               tmp_path: Path) -> None:
    hide(module, tmp_path)
    done = verify(["SmolLM2-135M", *args], offline_env, timeout=60)
    assert done.returncode == 4, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], done.stderr


def test_a_run_past_its_time_limit_is_stopped_and_leaves_nothing(offline_env: dict[str, str]) -> None:
    done = verify(["SmolLM2-135M", "--engine", "transformers", "--timeout", "1", "--runs", "1"], offline_env,
                  timeout=60)
    assert done.returncode == 5, done.stderr
    assert "time limit" in done.stderr.strip().splitlines()[-1]
    assert list(Path(offline_env["TMPDIR"]).iterdir()) == []


def test_ctrl_c_stops_the_measuring_child(offline_env: dict[str, str]) -> None:
    import psutil

    proc = subprocess.Popen([sys.executable, "-m", "advisor", "verify", "SmolLM2-135M", "--engine", "transformers",
                             "--runs", "1"], env=offline_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    children: list[psutil.Process] = []
    deadline = time.monotonic() + 60
    while not children and time.monotonic() < deadline:
        children = parent.children(recursive=True)
        time.sleep(0.05)
    assert children, "the measuring child never started"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, alive
    assert list(Path(offline_env["TMPDIR"]).iterdir()) == []


@pytest.mark.slow
def test_sweep_reports_each_term_over_a_grid(offline_env: dict[str, str]) -> None:
    done = verify(["SmolLM2-135M", "--context", "1024", "--engine", "transformers", "--sweep-prompts", "64,512",
                   "--sweep-batches", "1,2", "--json"], offline_env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [(c["prompt_tokens"], c["batch"]) for c in doc["cells"]] == [(64, 1), (512, 1), (64, 2), (512, 2)]
    for cell in doc["cells"]:
        kv = next(t for t in cell["terms"] if t["term"] == "KV cache")
        assert kv["measured_bytes"] == [30 * 2 * 3 * 64 * (cell["prompt_tokens"] + 8) * cell["batch"] * 2]
    assert {"weights", "KV cache", "runtime", "prefill working", "peak"} <= set(doc["errors"])
    assert doc["errors"]["weights"] == {"min_error": 0.0, "max_error": 0.0}


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed here "
                    "(pip install llama-cpp-python); the synthetic GGUF it loads is tested in test_verify_parts.py")
def test_llamacpp_plans_are_measured_on_a_synthetic_gguf(offline_env: dict[str, str]) -> None:
    done = verify(["SmolLM2-135M", "--context", "1024", "--precision", "Q4_K_M", "--runs", "1", "--json"], offline_env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["plan"]["engine"], doc["plan"]["precision"]) == ("llama.cpp", "Q4_K_M") and doc["chosen_because"] is None
    run = doc["runs"][0]
    # llama.cpp's own log: an f16 cache of 1,024 cells, 30 layers x K and V x 3 KV heads x 64 x 2 bytes
    assert run["kv_cache_log_bytes"] == 30 * 2 * 3 * 64 * 1024 * 2
    weights = term(doc, "weights")
    assert abs(weights["measured_bytes"][0] - weights["estimate_bytes"]) <= 0.0002 * weights["estimate_bytes"]
    assert doc["held"] and list(Path(offline_env["TMPDIR"]).iterdir()) == []


def test_with_no_engine_library_it_names_what_to_install_for_each(offline_env: dict[str, str], tmp_path: Path) -> None:
    hide("llama_cpp", tmp_path)
    hide("transformers", tmp_path)
    done = verify(["SmolLM2-135M", "--context", "2048"], offline_env, timeout=60)
    assert done.returncode == 4, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and "pip install llama-cpp-python" in line and 'pip install "local-advisor[verify]"' in line


def test_a_directory_with_only_its_config_is_measured(offline_env: dict[str, str], tmp_path: Path) -> None:
    """A model advisor has never seen, named by a directory holding its config.json and no weights."""
    model = tmp_path / "tiny"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({
        "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_size": 128, "num_hidden_layers": 3,
        "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 256, "vocab_size": 2000,
        "max_position_embeddings": 4096, "tie_word_embeddings": True, "torch_dtype": "bfloat16"}))
    done = verify([str(model), "--context", "1024", "--engine", "transformers", "--runs", "1", "--json"], offline_env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    # embeddings 2000 x 128 (tied) + 3 layers of q/k/v with biases, o, the MLP and two norms + the final norm
    layer = 128 * 128 + 128 + 2 * (128 * 64 + 64) + 128 * 128 + 3 * 128 * 256 + 2 * 128
    params = 2000 * 128 + 3 * layer + 128
    assert doc["model"]["params_total"] == params
    assert term(doc, "weights")["measured_bytes"] == [params * 2]
    assert term(doc, "KV cache")["measured_bytes"] == [3 * 2 * 2 * 32 * 1023 * 2]
    assert doc["held"]
