"""Never a "fits" that is not true: launch scripts in real bash, GPU requests, MIG, device identity across
environments, what-if machines, trained context, approximate models, ranking, joint placement, advice.

Machines are probed by our real NVML code over the fake `pynvml` (tests/fakes), then saved as snapshot files
and handed to the CLI in real subprocesses, as `advisor probe --json` on that machine would.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import advisor
from advisor.cli import app
from advisor.models import catalog
from advisor.models.sizes import read_size
from probes.nvml import probe_nvml
from probes.schema import Snapshot
from rules.plan import Request
from rules.select import recommend
from tests.fakes import fake_pynvml as fk
from tests.fakes.fake_pynvml import GIB, MIB
from tests.snapshots import NO_GPU, gpu, machine

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
runner = CliRunner()


def probed(install_nvml, fake: fk.FakeMachine, env: dict[str, str] | None = None, ram_gib: float = 64) -> Snapshot:
    """A snapshot whose GPU part comes from our NVML probe over the fake driver, RAM and CPU from a test machine."""
    install_nvml(fake)
    res = probe_nvml(environ=env or {})
    base = machine([], ram_gib=ram_gib)
    return base.model_copy(update={"gpus": list(res.gpus), "nvml": res.section})


def save(tmp_path: Path, name: str, snap: Snapshot) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(snap.to_json())
    return str(path)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "advisor", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, check=False)


def env_of(stdout: str) -> dict[str, str]:
    """The variables `eval` of the env output would set (parsed as the shell would, without running it)."""
    out = {}
    for line in stdout.splitlines():
        if "=" in line and line.startswith("ADVISOR_"):
            key, value = line.split("=", 1)
            out[key] = shlex.split(value)[0] if value else ""
    return out


@pytest.fixture
def hosts(tmp_path, install_nvml):
    """Snapshot files of the simulated machines of the issue."""
    t4 = probed(install_nvml, fk.t4())
    return {
        "4090": save(tmp_path, "4090", probed(install_nvml, fk.rtx_4090())),
        "nodriver": save(tmp_path, "nodriver", probed(install_nvml, fk.FakeMachine(init_error=fk.CODES["LIBRARY_NOT_FOUND"]))),
        "lost": save(tmp_path, "lost", probed(install_nvml, fk.lost_gpu())),
        "mig": save(tmp_path, "mig", probed(install_nvml, fk.a100_mig())),
        "t4": save(tmp_path, "t4", t4),
        "v100": save(tmp_path, "v100", probed(install_nvml, fk.v100())),
        "2gpu-slurm": save(tmp_path, "slurm", probed(install_nvml, fk.two_h100_busy(), {"CUDA_VISIBLE_DEVICES": "1"})),
        "cpu32": save(tmp_path, "cpu32", machine([], ram_gib=32, nvml_status="unavailable",
                                               nvml_error="NVML library not found (libnvidia-ml): no NVIDIA driver installed")),
        "hung": save(tmp_path, "hung", machine([], ram_gib=32, nvml_status="unavailable",
                                             nvml_error="NVML did not answer within 10 s (hung driver call?)")),
    }


# --- 1. launch scripts ------------------------------------------------------------------------------------------

def readme_launch_script() -> str:
    readme = (REPO / "README.md").read_text()
    start = readme.index("<!-- launch-script -->")
    return readme[start:].split("```bash\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize(
    ("model", "args", "launches", "why"),
    [
        ("qwen2.5:0.5b", [], True, ""),                                    # fits: exit 0
        ("Llama-3.1-405B-Instruct", [], False, "does not fit"),            # exit 1
        ("no-such-model-anywhere", [], False, "unknown model"),            # bad input: exit 2
        ("acme/Frobnicator-13B-Chat", [], False, "known only approximately"),  # cannot tell: exit 3
    ],
)
def test_readme_launch_script_launches_only_on_a_fit(hosts, tmp_path, model, args, launches, why):
    script = tmp_path / "launch.sh"
    script.write_text(readme_launch_script())
    assert "set -euo pipefail" in script.read_text()
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ADVISOR_HARDWARE": hosts["cpu32"], "MODEL": model}
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120, env=env, check=False)
    if launches:
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("launching Qwen2.5-0.5B-Instruct with"), done.stdout
    else:
        assert done.returncode == 1 and "launching" not in done.stdout, done.stdout + done.stderr
        assert "not launching" in done.stderr and why in done.stderr, done.stderr


def test_readme_launch_script_does_not_launch_when_advisor_is_missing(tmp_path):
    script = tmp_path / "launch.sh"
    script.write_text(readme_launch_script())
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ADVISOR_FITS": "1"}  # a stale value in the environment
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 1 and "launching" not in done.stdout
    assert "not launching: advisor did not run" in done.stderr


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["qwen2.5:0.5b"], 0),
        (["Llama-3.1-405B-Instruct", "--precision", "bf16"], 1),
        (["not-a-model-at-all"], 2),
        (["qwen2.5:7b", "--contxt", "8k"], 2),  # a usage error, before advisor's own code runs
        (["qwen2.5:7b", "--batch", "many"], 2),
        (["acme/Frobnicator-13B-Chat"], 3),
    ],
)
def test_eval_carries_the_exit_code_and_sets_every_variable(hosts, args, code):
    check = shlex.join([sys.executable, "-m", "advisor", "check", *args, "--hardware", hosts["cpu32"], "--format", "env"])
    script = f"""set -euo pipefail
if eval "$({check})"; then status=0; else status=$?; fi
printf '%s|%s|%s|%s\\n' "$status" "$ADVISOR_EXIT_CODE" "$ADVISOR_FITS" "$ADVISOR_REASON"
printf '%s\\n' "$ADVISOR_PRECISION$ADVISOR_COMMAND$ADVISOR_CUDA_VISIBLE_DEVICES"
"""
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr  # set -u: every variable is set whatever the outcome
    status, exit_code, fits, reason = done.stdout.splitlines()[0].split("|", 3)
    assert (int(status), int(exit_code), fits) == (code, code, "1" if code == 0 else "0")
    assert reason and "\n" not in reason
    assert done.stderr.count("\n") <= 2 and "Traceback" not in done.stderr


def test_eval_outside_an_if_stops_a_strict_script(hosts):
    check = shlex.join([sys.executable, "-m", "advisor", "check", "Llama-3.1-405B-Instruct", "--hardware",
                        hosts["cpu32"], "--format", "env"])
    done = subprocess.run(["bash", "-c", f'set -euo pipefail\neval "$({check})"\necho launched'], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 1 and "launched" not in done.stdout


# --- 2. GPU requests --------------------------------------------------------------------------------------------

def test_gpus_on_a_machine_without_a_driver_is_bad_input(hosts):
    done = run("check", "llama3.1:8b", "--gpus", "0", "--hardware", hosts["nodriver"])
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "no NVIDIA GPU" in done.stderr and "no NVIDIA driver" in done.stderr


def test_gpus_naming_a_gpu_that_is_not_there_names_those_that_are(hosts):
    done = run("check", "llama3.1:8b", "--gpus", "3", "--hardware", hosts["4090"])
    assert done.returncode == 2
    assert "no GPU 3" in done.stderr and "0 (NVIDIA GeForce RTX 4090)" in done.stderr


def test_gpus_naming_a_lost_gpu_cannot_tell(hosts):
    done = run("check", "llama3.1:8b", "--gpus", "1", "--hardware", hosts["lost"], "--format", "json")
    assert done.returncode == 3
    doc = json.loads(done.stdout)
    assert doc["fits"] is False and "GPU 1" in doc["cannot_tell"] and "GPU is lost" in doc["cannot_tell"]


def test_a_precision_the_named_gpu_cannot_run_does_not_fit_and_never_falls_to_the_cpu(hosts):
    done = run("check", "llama3.1:8b", "--precision", "bf16", "--gpus", "0", "--engine", "transformers",
               "--hardware", hosts["t4"])
    assert done.returncode == 1, done.stdout
    assert "bf16 needs compute capability ≥ 8.0; GPU 0 (Tesla T4) is 7.5" in done.stdout
    assert "CPU" not in done.stdout.split(" on ")[0]


def test_with_gpus_no_plan_is_cpu_only(hosts):
    from advisor.snapshots import load_snapshot

    snap = load_snapshot(hosts["4090"])
    rec = recommend(catalog.spec_for("Llama-3.1-70B-Instruct"), snap, Request(devices=(0,)))
    for plan in [p for p in [rec.plan, *rec.alternatives] if p is not None]:
        assert any(u.kind == "gpu" for u in plan.per_device), plan.key
    without = recommend(catalog.spec_for("Llama-3.1-70B-Instruct"), snap, Request())
    assert any(p.placement == "cpu" for p in [without.plan, *without.alternatives] if p) or without.plan


def test_python_api_accepts_ints_for_gpus(hosts):
    as_int = advisor.check("qwen2.5:0.5b", hardware=hosts["4090"], gpus=0)
    as_list = advisor.check("qwen2.5:0.5b", hardware=hosts["4090"], gpus=[0])
    as_text = advisor.check("qwen2.5:0.5b", hardware=hosts["4090"], gpus="0")
    assert as_int.exit_code == as_list.exit_code == as_text.exit_code == 0
    assert as_int.plan is not None and as_int.plan.devices == ["gpu:0"] == as_list.plan.devices  # type: ignore[union-attr]


# --- 3. MIG -----------------------------------------------------------------------------------------------------

def test_no_plan_spans_two_mig_instances(hosts):
    from advisor.snapshots import load_snapshot

    snap = load_snapshot(hosts["mig"])
    # Qwen2.5-14B at bf16 needs ~30 GiB: more than one 3g.20gb instance (19.5 GiB), less than two
    rec = recommend(catalog.spec_for("Qwen2.5-14B-Instruct"), snap, Request(precision="bf16", allow_cpu=False))
    assert not rec.fits
    rejected = [r for r in rec.rejected if r.placement == "layer-split"]
    assert rejected == [] and all("mig:0" not in r.reason or "mig:1" not in r.reason for r in rec.rejected)
    rec = recommend(catalog.spec_for("Qwen2.5-7B-Instruct"), snap, Request(allow_cpu=False))
    assert rec.fits and rec.plan is not None
    for plan in [rec.plan, *rec.alternatives]:
        gpus = [u for u in plan.per_device if u.kind == "gpu"]
        assert len(gpus) == 1 and "/mig:" in gpus[0].device
        assert plan.cuda_visible_devices is not None and plan.cuda_visible_devices.startswith("MIG-")
        assert "," not in plan.cuda_visible_devices


def test_mig_instance_memory_is_its_own(hosts):
    done = run("check", "qwen2.5:7b", "--hardware", hosts["mig"], "--format", "env")
    env = env_of(done.stdout)
    assert env["ADVISOR_CUDA_VISIBLE_DEVICES"] in ("MIG-11111111-2222-3333-4444-555555555555",
                                                   "MIG-66666666-7777-8888-9999-000000000000")
    doc = json.loads(run("fit", "qwen2.5:7b", "--hardware", hosts["mig"], "--json").stdout)
    use = next(u for u in doc["plan"]["per_device"] if u["kind"] == "gpu")
    assert use["free_bytes"] <= 19968 * MIB  # the instance's, not the whole A100's 40 GiB


def test_fleet_matrix_has_no_cell_spanning_mig_instances(tmp_path, hosts):
    done = run("report", hosts["mig"], "-m", "qwen2.5:14b", "-m", "qwen2.5:7b", "--format", "json")
    doc = json.loads(done.stdout)
    for cell in doc["hosts"][0]["cells"].values():
        assert len([d for d in cell["devices"] if d.startswith("gpu:")]) <= 1, cell


# --- 4. device identity -------------------------------------------------------------------------------------------

def test_cuda_visible_devices_already_set_selects_the_same_physical_gpu(hosts):
    # Slurm set CUDA_VISIBLE_DEVICES=1 on a 2-GPU host: the plan is for NVML GPU 1. Exported as advisor hands it
    # back, the variables must select GPU 1 again, not the caller's CUDA index 0 (which is the other GPU unhidden).
    done = run("check", "qwen2.5:7b", "--hardware", hosts["2gpu-slurm"], "--format", "env")
    env = env_of(done.stdout)
    assert done.returncode == 0
    assert (env["ADVISOR_CUDA_DEVICE_ORDER"], env["ADVISOR_CUDA_VISIBLE_DEVICES"]) == ("PCI_BUS_ID", "1")
    fit = json.loads(run("fit", "qwen2.5:7b", "--hardware", hosts["2gpu-slurm"], "--json").stdout)
    assert fit["plan"]["gpu_indices"] == [1]
    assert fit["settings"]["env"] == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "1"}


def test_fastest_first_order_does_not_change_what_is_handed_back(install_nvml, tmp_path):
    # An RTX 4090 (8.9) at NVML 0 and an H100 (9.0) at NVML 1: CUDA's default order puts the H100 first
    fake = fk.FakeMachine([fk.rtx_4090().gpus[0], fk.two_h100_busy().gpus[0]])
    snap = probed(install_nvml, fake, {})
    assert {g.index: g.cuda_index for g in snap.gpus} == {0: 1, 1: 0}
    rec = recommend(catalog.spec_for("Qwen2.5-32B-Instruct"), snap, Request(precision="bf16", engine="vllm"))
    assert rec.plan is not None and rec.plan.gpu_indices == [1]
    assert (rec.plan.cuda_visible_devices, rec.plan.cuda_device_order) == ("1", "PCI_BUS_ID")


# --- 5. what-if machines ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("device", ["Orin Nano", "Apple M1 8GB"])
def test_unified_what_if_device_brings_its_own_memory(hosts, device):
    # bf16 Llama-3.1-8B needs ~16 GiB of weights: it cannot fit an 8 GB device, on its GPU or its CPU
    done = run("check", "llama3.1:8b", "--precision", "bf16", "--gpu", device, "--hardware", hosts["cpu32"],
               "--format", "json")
    assert done.returncode == 1, done.stdout
    doc = json.loads(done.stdout)
    assert doc["hardware"]["ram_total_bytes"] == 8 * GIB
    assert all("CPU RAM" not in r["reason"] or "usable" in r["reason"] for r in doc["rejected"])


def test_discrete_what_if_gpu_keeps_this_hosts_ram(hosts):
    doc = json.loads(run("fit", "qwen2.5:0.5b", "--gpu", "RTX 4090", "--hardware", hosts["cpu32"], "--json").stdout)
    assert doc["hardware"]["ram_total_bytes"] == 32 * GIB


# --- 6. context -------------------------------------------------------------------------------------------------

def test_context_beyond_the_trained_maximum_is_not_a_fit(hosts):
    done = run("check", "llama3.1:8b", "--context", "200k", "--gpu", "H100")
    assert done.returncode == 1
    assert "204,800" in done.stdout and "131,072" in done.stdout and "--extend-context" in done.stdout


def test_extended_context_names_the_rope_scaling(hosts):
    done = run("fit", "llama3.1:8b", "--context", "200k", "--extend-context", "--gpu", "H100", "--engine", "vllm",
               "--json")
    doc = json.loads(done.stdout)
    assert doc["fits"] and doc["plan"]["rope_scaling"]["rope_type"] == "yarn"
    assert doc["plan"]["rope_scaling"]["factor"] == pytest.approx(204800 / 131072, rel=1e-3)
    assert doc["plan"]["rope_scaling"]["original_max_position_embeddings"] == 131072
    assert "--hf-overrides" in doc["settings"]["command"] and '"rope_type":"yarn"' in doc["settings"]["command"]


# --- 7. approximate models ----------------------------------------------------------------------------------------

def test_approximate_model_cannot_tell_in_every_form(hosts):
    text = run("check", "acme/Frobnicator-13B-Chat", "--hardware", hosts["cpu32"])
    assert text.returncode == 3 and "approximately" in text.stdout and "--allow-approximate" in text.stdout
    env = run("check", "acme/Frobnicator-13B-Chat", "--hardware", hosts["cpu32"], "--format", "env")
    values = env_of(env.stdout)
    assert env.returncode == 3 and values["ADVISOR_EXIT_CODE"] == "3" and values["ADVISOR_FITS"] == "0"
    assert values["ADVISOR_APPROXIMATE"] == "1" and "approximately" in values["ADVISOR_REASON"]
    doc = json.loads(run("check", "acme/Frobnicator-13B-Chat", "--hardware", hosts["cpu32"], "--json").stdout)
    assert doc["fits"] is False and doc["model"]["exact"] is False and doc["cannot_tell"]
    fit = run("fit", "acme/Frobnicator-13B-Chat", "--hardware", hosts["cpu32"])
    assert "cannot tell" in fit.stdout and "APPROXIMATE" in fit.stdout


def test_allow_approximate_says_so(hosts):
    done = run("check", "acme/Frobnicator-13B-Chat", "--hardware", hosts["cpu32"], "--allow-approximate")
    assert done.returncode == 0 and "APPROXIMATE" in done.stdout


@pytest.mark.parametrize(
    ("name", "at_least_total", "active"),
    [
        # Llama 4 Scout: 17B active, 16 experts, 109 B in total (Meta's model card)
        ("meta-llama/Llama-4-Scout-17B-16E-Instruct", 109e9, 17e9),
        # Llama 4 Maverick: 17B active, 128 experts, 400 B in total (Meta's model card)
        ("meta-llama/Llama-4-Maverick-17B-128E-Instruct", 400e9, 17e9),
        # Mixtral 8x7B: 46.7 B in total (Mistral's model card), 2 of 8 experts active
        ("someone/mixtral-8x7b-finetune", 46.7e9, 14e9),
        ("Qwen/Qwen3-30B-A3B-Thinking-Variant", 30e9, 3e9),
        # Gemma 3n E4B: about 8 B raw parameters (Google's Gemma 3n model card)
        ("google/gemma-3n-E4B-it-variant", 8e9, None),
    ],
)
def test_a_guess_from_a_name_is_conservative(name, at_least_total, active):
    size = read_size(name)
    assert size is not None and size.total >= at_least_total
    if active is not None:
        assert size.active == pytest.approx(active, rel=0.01) or size.active >= active


# --- 8. ranking -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["t4", "v100"])
def test_no_native_bf16_prefers_f16(hosts, host):
    doc = json.loads(run("fit", "qwen2.5:3b", "--engine", "llama.cpp", "--hardware", hosts[host], "--json").stdout)
    assert doc["plan"]["precision"] == "F16", doc["plan"]["precision"]


def test_native_bf16_keeps_bf16(hosts):
    doc = json.loads(run("fit", "qwen2.5:3b", "--engine", "llama.cpp", "--hardware", hosts["4090"], "--json").stdout)
    assert doc["plan"]["precision"] == "BF16"


def test_featured_models_on_a_4090_never_offload_when_4_bit_fits_on_the_gpu(hosts):
    from advisor.snapshots import load_snapshot

    snap = load_snapshot(hosts["4090"])
    for name in catalog.featured():
        spec = catalog.spec_for(name)
        rec = recommend(spec, snap, Request())
        gpu_only = recommend(spec, snap, Request(allow_cpu=False))
        good_on_gpu = gpu_only.plan is not None and gpu_only.fits and gpu_only.plan.quality_rank <= 5
        if good_on_gpu:
            assert rec.plan is not None and rec.plan.speed_class == "all-gpu", (name, rec.plan and rec.plan.key)
        assert rec.plan is None or rec.plan.speed_class in ("all-gpu", "offload", "cpu")


def test_every_plan_says_its_speed_class(hosts):
    doc = json.loads(run("fit", "qwen2.5:32b", "--hardware", hosts["4090"], "--json").stdout)
    classes = {p["speed_class"] for p in [doc["plan"], *doc["alternatives"]]}
    assert classes <= {"all-gpu", "offload", "cpu"} and doc["plan"]["speed_class"] == "all-gpu"
    text = run("fit", "qwen2.5:32b", "--hardware", hosts["4090"]).stdout
    assert "all on GPU" in text and "speed" in text


def test_three_models_stay_on_the_gpus_at_a_common_quality():
    # One 80 GB A100: at bf16 the 32B (~66 GiB) leaves no room for the others; greedy placement pushed them to the
    # CPU. The search finds the best common quality that keeps all three on the GPU.
    snap = machine([gpu(0, "NVIDIA A100-SXM4-80GB", 79.2, "8.0")], ram_gib=256)
    from rules.joint import place_models

    specs = [catalog.spec_for(n) for n in ("Qwen2.5-32B-Instruct", "Llama-3.1-8B-Instruct", "Qwen2.5-7B-Instruct")]
    joint = place_models(specs, snap, Request(context=4096))
    assert joint.fits
    assert all(r.plan is not None and r.plan.speed_class == "all-gpu" for r in joint.placed)
    assert joint.summary.startswith("all 3 models fit together (all on GPUs)")
    total = sum(u.reserved_bytes or u.memory.total_bytes for r in joint.placed if r.plan for u in r.plan.per_device)
    assert total <= 79.2 * GIB


def test_several_models_end_with_one_summary_line(hosts):
    done = run("fit", "qwen2.5:0.5b", "qwen2.5:1.5b", "--hardware", hosts["4090"])
    assert done.returncode == 0
    assert done.stdout.rstrip().splitlines()[-1].startswith("✔ all 2 models fit together")


# --- 8b. advice ---------------------------------------------------------------------------------------------------

def test_full_finetune_that_does_not_fit_offers_lora_or_qlora(hosts):
    doc = json.loads(run("fit", "llama3.1:8b", "--mode", "finetune", "--hardware", hosts["4090"], "--json").stdout)
    assert not doc["fits"]
    modes = [c["description"] for c in doc["changes"] if c["kind"] == "mode"]
    assert modes and modes[0].startswith(("--mode lora", "--mode qlora"))


def test_smaller_models_are_of_the_same_kind_and_family_only():
    # GPT-3 175B is known only by its name: no family, so no "smaller model" (never an image or speech model)
    rec = recommend(catalog.spec_for("Llama-3.1-405B-Instruct"), NO_GPU, Request(precision="bf16"),
                    siblings=catalog.family_of)
    assert rec.smaller_models and all(s.startswith("Llama-3") for s in rec.smaller_models)
    from advisor.models.resolve import resolve

    gpt3 = resolve("GPT-3 175B")
    rec = recommend(gpt3, NO_GPU, Request(allow_approximate=True), siblings=catalog.family_of)
    assert not any(w in s.lower() for s in rec.smaller_models for w in ("diffusion", "whisper", "yolo", "resnet"))


def test_no_fit_wording_has_no_negative_or_unknown_shortfall(hosts):
    for args in (["Llama-3.1-405B-Instruct"], ["qwen2.5:7b", "--engine", "vllm"], ["llama3.1:8b", "--context", "1m"]):
        done = run("check", *args, "--hardware", hosts["cpu32"])
        assert done.returncode == 1
        assert "(-" not in done.stdout and "unknown short" not in done.stdout, done.stdout
        assert done.stdout.count("fits:") <= 1 and "fits: " not in done.stdout.split(" ")[0]


# --- 10. the rest -------------------------------------------------------------------------------------------------

def test_the_gpu_table_command_exists_and_error_messages_point_at_it():
    table = runner.invoke(app, ["gpus"])
    assert table.exit_code == 0 and "RTX 4090" in table.stdout and "Orin Nano" in table.stdout
    doc = json.loads(runner.invoke(app, ["gpus", "h100", "--json"]).stdout)
    assert doc["gpus"] and all("H100" in g["name"] for g in doc["gpus"])
    done = run("check", "llama3.1:8b", "--gpu", "Frobnitz 9000")
    assert done.returncode == 2 and "advisor gpus" in done.stderr


def test_one_clean_one_liner(hosts):
    done = run("check", "qwen2.5:0.5b", "--hardware", hosts["cpu32"])
    line = done.stdout.strip()
    assert done.returncode == 0 and "\n" not in line
    assert line.startswith("Qwen2.5-0.5B-Instruct fits: ") and line.count("fits") == 1


# --- the house: model kinds ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["clip-vit-large-patch14"])
def test_a_model_that_is_not_a_token_llm_gets_no_token_plan(hosts, name):
    # (vision, speech, embedding and diffusion models have their own workloads: tests/test_vision.py, ...); CLIP
    # is known by its parameter count only
    fit = run("fit", name, "--hardware", hosts["4090"])
    assert fit.returncode == 0
    for word in ("tokens", "KV cache", "AutoModelForCausalLM", "context"):
        assert word not in fit.stdout.replace("a token context, KV cache or causal-LM loader", ""), (word, fit.stdout)
    assert "does not model yet" in fit.stdout
    check = run("check", name, "--hardware", hosts["4090"], "--format", "json")
    assert check.returncode == 3
    doc = json.loads(check.stdout)
    assert doc["plan"] is None and doc["settings"] is None and doc["fits"] is False and doc["cannot_tell"]
    report = json.loads(run("report", hosts["4090"], "-m", name, "--format", "json").stdout)
    cell = report["hosts"][0]["cells"][name]
    assert cell["cannot_tell"] and not cell["fits"]


def test_cuda_visible_devices_naming_one_mig_instance_plans_on_it_alone(install_nvml):
    snap = probed(install_nvml, fk.a100_mig(), {"CUDA_VISIBLE_DEVICES": "MIG-66666666-7777-8888-9999-000000000000"})
    rec = recommend(catalog.spec_for("Qwen2.5-0.5B-Instruct"), snap, Request(allow_cpu=False))
    assert rec.plan is not None
    for plan in [rec.plan, *rec.alternatives]:
        assert [u.device for u in plan.per_device] == ["gpu:0/mig:1"]
        assert plan.cuda_visible_devices == "MIG-66666666-7777-8888-9999-000000000000"


def test_gpus_on_a_hung_driver_cannot_tell(hosts):
    done = run("check", "llama3.1:8b", "--gpus", "0", "--hardware", hosts["hung"])
    assert done.returncode == 3 and "could not be read" in done.stderr


# --- output that survives a pipe --------------------------------------------------------------------------------

def test_piped_tables_cut_no_name_or_number(hosts):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run([sys.executable, "-m", "advisor", "models"], capture_output=True, text=True, timeout=60,
                          env=env, check=False)
    assert done.returncode == 0 and "…" not in done.stdout
    names = [e["name"] for e in catalog.entries()]
    assert all(n in done.stdout for n in names)
    assert sum(1 for line in done.stdout.splitlines() if "70B" in line) >= 5
    fit = subprocess.run([sys.executable, "-m", "advisor", "fit", "llama3.1:8b", "--hardware", hosts["4090"]],
                         capture_output=True, text=True, timeout=60, env=env, check=False)
    assert fit.returncode == 0 and "…" not in fit.stdout.replace("… ", "")  # the "… N more reasons" line aside


def test_narrow_terminal_keeps_numbers_whole(hosts):
    done = run("fit", "llama3.1:8b", "--hardware", hosts["4090"], env={"COLUMNS": "60"})
    block = done.stdout.split("Runners-up", 1)[1].split("Rejected", 1)[0]
    assert "…" not in block and " GiB, max context " in block


def test_boolean_flags_show_no_value_type_in_help():
    done = run("check", "--help", env={"COLUMNS": "120"})
    for line in done.stdout.splitlines():
        if "--json" in line or "--allow-approximate" in line or "--extend-context" in line:
            assert "<bool>" not in line, line
