"""Command-line conventions: --json on every command, wherever the flag is written; one line per usage error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.snapshots import gpu, machine


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "advisor", *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ), cwd=cwd, check=False)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    snap = tmp_path / "host.json"
    snap.write_text(machine([gpu(0, "NVIDIA GeForce RTX 4090", 23.99, "8.9")]).to_json())
    db = tmp_path / "inv.db"
    assert run("inventory", "add", str(snap), "--db", str(db)).returncode == 0
    return {"snap": str(snap), "db": str(db), "out": str(tmp_path)}


COMMANDS = [
    ["probe", "--no-torch"], ["models"], ["models", "show", "llama3.1:8b"], ["gpus"], ["schema"],
    ["fit", "qwen2.5:0.5b", "--hardware", "{snap}"], ["check", "qwen2.5:0.5b", "--hardware", "{snap}"],
    ["report", "{snap}"], ["inventory", "diff", "--since", "7d", "--db", "{db}"],
    ["inventory", "add", "{snap}", "--db", "{db}"], ["completion", "show", "bash"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
@pytest.mark.parametrize("where", ["after", "before"])
def test_every_command_prints_one_json_document_with_json(files, command, where):
    args = [a.format(**files) for a in command]
    line = [*args, "--json"] if where == "after" else ["--json", *args]
    done = run(*line)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)  # one document, nothing else on stdout
    assert isinstance(doc, dict) and doc


@pytest.mark.parametrize("args", [["check", "qwen2.5:7b", "--contxt", "8k"], ["fit"], ["nosuchcommand"],
                                  ["check", "qwen2.5:7b", "--batch", "x"]])
def test_usage_errors_are_one_line(args):
    done = run(*args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("advisor: error: "), done.stderr


def test_a_misspelt_option_suggests_the_right_one():
    done = run("check", "qwen2.5:7b", "--contxt", "8k")
    assert "--context" in done.stderr


def test_python_m_advisor_works_like_the_console_script(files):
    done = run("--version")
    assert done.returncode == 0 and done.stdout.startswith("advisor ")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("advisor fit qwen2.5:", "qwen2.5:7b"),
        ("advisor check x --precision Q4", "Q4_K_M"),
        ("advisor fit x --engine sg", "sglang"),
        ("advisor check x --gpu H1", "H100"),
        ("advisor check x --kv-dtype q", "q8_0"),
    ],
)
def test_completion_of_values(words, expected):
    env = {**os.environ, "_ADVISOR_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - 1)}
    done = subprocess.run([sys.executable, "-m", "advisor"], capture_output=True, text=True, timeout=60, env=env,
                          check=False)
    assert expected in done.stdout.split(), done.stdout[:300]


def test_quiet_check_says_it_with_the_exit_code_only(files):
    ok = run("--quiet", "check", "qwen2.5:0.5b", "--hardware", files["snap"])
    no = run("-q", "check", "Llama-3.1-405B-Instruct", "--precision", "bf16", "--hardware", files["snap"])
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")
    assert (no.returncode, no.stdout, no.stderr) == (1, "", "")
    bad = run("-q", "check", "no-such-model-at-all", "--offline")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_no_color_and_force_color(files):
    env = {**os.environ, "FORCE_COLOR": "1"}
    env.pop("NO_COLOR", None)
    colored = subprocess.run([sys.executable, "-m", "advisor", "fit", "qwen2.5:0.5b", "--hardware", files["snap"]],
                             capture_output=True, text=True, timeout=60, env=env, check=False)
    assert "\x1b[" in colored.stdout
    env = {**os.environ, "NO_COLOR": "1"}
    plain = subprocess.run([sys.executable, "-m", "advisor", "fit", "qwen2.5:0.5b", "--hardware", files["snap"]],
                           capture_output=True, text=True, timeout=60, env=env, check=False)
    assert "\x1b[" not in plain.stdout


PIPED = [["models"], ["gpus"], ["models", "show", "llama3.1:8b"], ["probe", "--no-torch"],
         ["fit", "llama3.1:8b", "--hardware", "{snap}"], ["fit", "llama3.1:8b", "qwen2.5:0.5b", "--hardware", "{snap}"],
         ["check", "llama3.1:8b", "--hardware", "{snap}"], ["report", "{snap}", "-m", "llama3.1:8b"],
         ["inventory", "diff", "--since", "7d", "--db", "{db}"]]


@pytest.mark.parametrize("command", PIPED, ids=lambda c: " ".join(c[:2]))
def test_piped_output_cuts_no_name_or_number(files, command):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run([sys.executable, "-m", "advisor", *[a.format(**files) for a in command]], capture_output=True,
                          text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr
    cut = [line for line in done.stdout.splitlines() if "…" in line and "more reasons" not in line]
    assert not cut, cut


def test_the_inventory_lives_in_the_state_directory_by_default(files, tmp_path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    done = subprocess.run([sys.executable, "-m", "advisor", "inventory", "add", files["snap"]], capture_output=True,
                          text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "state" / "advisor" / "inventory.db").is_file()


def test_completion_install_says_what_it_changes_and_asks(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path)}
    refused = subprocess.run([sys.executable, "-m", "advisor", "completion", "install", "bash"], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=60, env=env, check=False)
    assert refused.returncode == 2 and ".bashrc" in refused.stdout and "--yes" in refused.stderr
    assert not (tmp_path / ".bashrc").exists()  # nothing changed without consent
    done = subprocess.run([sys.executable, "-m", "advisor", "completion", "install", "bash", "--yes"],
                          capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".bash_completions" / "advisor.sh").is_file()
    assert "advisor.sh" in (tmp_path / ".bashrc").read_text()


def test_fit_tsv_lists_the_plan_and_its_runners_up(files):
    done = run("fit", "llama3.1:8b", "--hardware", files["snap"], "--format", "tsv")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = lines[0].split("\t")
    assert header[:3] == ["rank", "precision", "engine"] and len(lines) >= 3
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    assert [r["rank"] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]
    assert all(int(r["total_bytes"]) > 0 for r in rows)
