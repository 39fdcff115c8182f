"""advisor fit / check / overview end to end: CliRunner, real subprocesses, bash eval, JSON schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

import advisor
from advisor.cli import app
from tests.fakes import fake_pynvml as fk
from tests.snapshots import gpu, machine

REPO = Path(__file__).resolve().parents[1]
RESULT_SCHEMA = json.loads((REPO / "schemas" / "result.schema.json").read_text())
runner = CliRunner()


@pytest.fixture
def hw(tmp_path):
    """Snapshot files of simulated machines, as `advisor probe --json` would write them."""

    def write(name, snap):
        path = tmp_path / f"{name}.json"
        path.write_text(snap.to_json())
        return str(path)

    return {
        "4090": write("4090", machine([gpu(0, "NVIDIA GeForce RTX 4090", 23.99, "8.9", 23.0)], ram_gib=64)),
        "cpu": write("cpu", machine([], ram_gib=32, nvml_status="unavailable",
                                    nvml_error="NVML library not found (libnvidia-ml): no NVIDIA driver installed")),
        "hung": write("hung", machine([], ram_gib=32, nvml_status="unavailable",
                                      nvml_error="NVML did not answer within 10 s (hung driver call?)")),
        "2xh100": write("2xh100", machine([gpu(0, "NVIDIA H100 80GB HBM3", 79.6, "9.0"),
                                           gpu(1, "NVIDIA H100 80GB HBM3", 79.6, "9.0", 49.1)], ram_gib=512)),
    }


def test_result_schema_file_is_current():
    from advisor.commands.schema import schema_for

    assert schema_for("result") == RESULT_SCHEMA, "run: advisor schema result > schemas/result.schema.json"


def test_fit_json_has_the_documented_keys(hw):
    result = runner.invoke(app, ["fit", "llama3.1:8b", "--hardware", hw["4090"], "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, RESULT_SCHEMA)
    assert doc["model"]["name"] == "Llama-3.1-8B-Instruct"
    assert (doc["model"]["params_total"], doc["model"]["params_active"], doc["model"]["exact"]) == (8_030_261_248,) * 2 + (True,)
    assert doc["fits"] is True
    plan = doc["plan"]
    assert plan["precision"] == "bf16" and plan["devices"] == ["gpu:0"]
    assert set(plan["memory"]) == {"weights_bytes", "kv_cache_bytes", "activations_bytes", "runtime_bytes", "total_bytes",
                                   "typical_total_bytes", "prefill_bytes", "decode_bytes"}
    assert plan["memory"]["typical_total_bytes"] is None  # one number on a GPU; a range on the CPU
    assert plan["memory"]["prefill_bytes"] is None  # the prompt is the whole context: one phase is the peak
    assert plan["memory"]["weights_bytes"] == 8_030_261_248 * 2
    assert plan["max_context"] >= 8192
    assert doc["alternatives"] and all("reason" in r for r in doc["rejected"])


def test_fit_human_output(hw):
    result = runner.invoke(app, ["fit", "llama3.1:8b", "--hardware", hw["4090"]])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "✔ fits: bf16 with" in out and "GPU 0 NVIDIA GeForce RTX 4090" in out
    assert "Settings to paste" in out and "Runners-up" in out and "rule of thumb" in out


def test_fit_what_if_gpu_and_two_gpus(hw):
    one = runner.invoke(app, ["fit", "qwen2.5:32b", "--hardware", hw["cpu"], "--gpu", "RTX 4090", "--json"])
    doc = json.loads(one.stdout)
    assert doc["hardware"]["what_if"] and doc["hardware"]["gpus"][0]["name"] == "GeForce RTX 4090"
    two = runner.invoke(app, ["fit", "qwen2.5:32b", "--hardware", hw["cpu"], "--gpu", "2x RTX 4090", "--json"])
    plan = json.loads(two.stdout)["plan"]
    assert len(plan["gpu_indices"]) == 2 and plan["placement"] in ("tensor-parallel", "layer-split")


def test_fit_settings_per_engine(hw):
    for engine, key, needle in [("vllm", "command", "vllm serve"), ("llama.cpp", "command", "-ngl"),
                                ("transformers", "python", "torch_dtype=torch.bfloat16"),
                                ("ollama", "modelfile", "PARAMETER num_ctx")]:
        result = runner.invoke(app, ["fit", "qwen2.5:7b", "--hardware", hw["4090"], "--engine", engine, "--json"])
        assert result.exit_code == 0, result.output
        settings = json.loads(result.stdout)["settings"]
        assert needle in settings[key], (engine, settings)
    q = runner.invoke(app, ["fit", "qwen2.5:14b", "--hardware", hw["4090"], "--engine", "transformers", "--precision", "nf4",
                            "--json"])
    assert "BitsAndBytesConfig(load_in_4bit=True" in json.loads(q.stdout)["settings"]["python"]
    tp = runner.invoke(app, ["fit", "Llama-3.3-70B-Instruct", "--hardware", hw["2xh100"], "--engine", "vllm", "--json"])
    cmd = json.loads(tp.stdout)["settings"]["command"]
    assert "--tensor-parallel-size 2" in cmd and "--gpu-memory-utilization" in cmd


def test_fit_several_models_joint(hw):
    result = runner.invoke(app, ["fit", "qwen2.5:7b", "llama3.2:3b", "--hardware", hw["4090"], "--json"])
    doc = json.loads(result.stdout)
    assert doc["fits"] and len(doc["results"]) == 2
    gpu_total = sum(u["memory"]["total_bytes"] if u["reserved_bytes"] is None else u["reserved_bytes"]
                    for r in doc["results"] for u in r["plan"]["per_device"] if u["kind"] == "gpu")
    assert gpu_total <= 23.0 * 1024**3


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["qwen2.5:0.5b"], 0),
        (["Llama-3.1-405B-Instruct", "--precision", "bf16"], 1),
        (["qwen2.5:7b", "--engine", "vllm"], 1),  # no GPU here: vLLM cannot run
    ],
)
def test_check_exit_codes_fit_and_no_fit(hw, args, code):
    result = runner.invoke(app, ["check", *args, "--hardware", hw["cpu"]])
    assert result.exit_code == code, result.output
    if code:
        assert result.stderr.count("\n") == 1 and "does not fit" in result.stderr


def test_check_cannot_tell(hw):
    result = runner.invoke(app, ["check", "qwen2.5:7b", "--engine", "vllm", "--hardware", hw["hung"]])
    assert result.exit_code == 3
    assert result.stderr == ("advisor: cannot tell whether Qwen2.5-7B-Instruct fits: the GPUs could not be read: NVML did "
                             "not answer within 10 s (hung driver call?)\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["frobnicate-9000"], "unknown model 'frobnicate-9000'"),
        (["qwen2.5:7b", "--context", "0"], "--context must be between 1"),
        (["qwen2.5:7b", "--context", "-5"], "--context must be between 1"),
        (["qwen2.5:7b", "--context", "lots"], "--context: not a number of tokens"),
        (["qwen2.5:7b", "--context", "999999999"], "--context must be between 1"),
        (["qwen2.5:7b", "--precision", "int3"], "unknown precision 'int3'"),
        (["qwen2.5:7b", "--engine", "magic"], "unknown engine 'magic'"),
        (["qwen2.5:7b", "--precision", "fp8", "--engine", "llama.cpp"], "--precision fp8 does not run on llama.cpp"),
        (["qwen2.5:7b", "--mode", "qlora", "--precision", "bf16"], "--mode qlora quantizes the base to nf4"),
        (["qwen2.5:7b", "--kv-dtype", "q8_0", "--engine", "vllm"], "--kv-dtype q8_0 is not a KV cache type of vLLM"),
        (["qwen2.5:7b", "--gpu", "RTX 9999"], "--gpu: 'RTX 9999' is not in the GPU table"),
        (["qwen2.5:7b", "--headroom", "120%"], "--headroom: 120% is not between"),
        (["qwen2.5:7b", "--gpus", "a,b"], "--gpus: expected NVML indices"),
        (["qwen2.5:7b", "--format", "yaml"], "--format: unknown format 'yaml'"),
    ],
)
def test_check_bad_input_exits_2_with_one_line(hw, args, message):
    result = runner.invoke(app, ["check", *args, "--hardware", hw["cpu"]])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


def test_check_unreadable_hardware_file(tmp_path):
    result = runner.invoke(app, ["check", "qwen2.5:7b", "--hardware", str(tmp_path / "missing.json")])
    assert result.exit_code == 2 and "missing.json: no such file" in result.stderr


def test_check_does_not_import_torch(hw):
    runner.invoke(app, ["check", "qwen2.5:7b", "--hardware", hw["4090"], "--json"])
    assert "torch" not in sys.modules


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "advisor", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, check=False)


def test_exit_codes_as_a_real_subprocess(hw):
    assert run_cli("check", "qwen2.5:0.5b", "--hardware", hw["cpu"]).returncode == 0
    assert run_cli("check", "Llama-3.1-405B-Instruct", "--precision", "bf16", "--hardware", hw["cpu"]).returncode == 1
    bad = run_cli("check", "qwen2.5:7b", "--context", "0", "--hardware", hw["cpu"])
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert run_cli("check", "qwen2.5:7b", "--engine", "vllm", "--hardware", hw["hung"]).returncode == 3
    usage = run_cli("check")
    assert usage.returncode == 2 and "Missing argument" in usage.stderr


def test_env_format_evaluated_by_bash(hw):
    script = f"""
set -u
eval "$({sys.executable} -m advisor check 'qwen2.5:7b' --hardware {hw['4090']} --format env)"
printf '%s|%s|%s|%s|%s\\n' "$ADVISOR_FITS" "$ADVISOR_PRECISION" "$ADVISOR_ENGINE" "$ADVISOR_CUDA_VISIBLE_DEVICES" "$ADVISOR_MAX_CONTEXT"
printf '%s\\n' "$ADVISOR_REASON"
"""
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    fits, precision, engine, cuda, max_ctx = done.stdout.splitlines()[0].split("|")
    assert (fits, precision, cuda) == ("1", "bf16", "0") and engine in ("vllm", "tensorrt-llm", "transformers")
    assert int(max_ctx) >= 8192
    assert done.stdout.splitlines()[1].startswith("Qwen2.5-7B-Instruct fits: bf16")


def test_env_values_are_quoted_against_injection(hw, tmp_path):
    # A model directory whose name carries shell syntax: evaluating the output must not run it.
    from tests.model_files import write_model_dir

    evil = write_model_dir(tmp_path / "x$(touch PWNED);`id`")
    check = f"{sys.executable} -m advisor check '{evil}' --hardware {hw['4090']} --format env"
    script = f"""cd {tmp_path}; eval "$({check})"; echo "$ADVISOR_MODEL" """
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.strip() == evil.name
    assert not (tmp_path / "PWNED").exists()


def test_overview_with_no_arguments(install_nvml):
    install_nvml(fk.FakeMachine(init_error=fk.CODES["LIBRARY_NOT_FOUND"]))
    result = runner.invoke(app, [])
    assert result.exit_code == 0, result.output
    assert "What runs here" in result.stdout and "Llama-3.1-8B-Instruct" in result.stdout
    as_json = runner.invoke(app, ["--json"])
    doc = json.loads(as_json.stdout)
    assert doc["hardware"]["gpus"] == [] and len(doc["models"]) >= 10
    small = next(m for m in doc["models"] if m["model"]["name"] == "Llama-3.2-1B-Instruct")
    assert small["fits"] and small["plan"]["placement"] == "cpu"


def test_python_api_returns_what_the_cli_prints(hw):
    from advisor.snapshots import load_snapshot

    result = advisor.recommend("qwen2.5:7b", snapshot=load_snapshot(hw["4090"]), context=4096)
    cli = runner.invoke(app, ["fit", "qwen2.5:7b", "--hardware", hw["4090"], "--context", "4096", "--json"])
    assert json.loads(result.to_json()) == json.loads(cli.stdout)
    assert advisor.check("Llama-3.1-405B-Instruct", hardware=hw["cpu"], precision="bf16").exit_code == 1


def test_readme_launch_script_runs(hw, tmp_path):
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- launch-script -->")
    block = readme[start:].split("```bash\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "launch.sh"
    script.write_text(block)
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "ADVISOR_HARDWARE": hw["4090"], "MODEL": "qwen2.5:7b"}
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "launching Qwen2.5-7B-Instruct with" in done.stdout
    env["MODEL"] = "Llama-3.1-405B-Instruct"
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120, env=env, check=False)
    assert "does not fit" in done.stdout + done.stderr
