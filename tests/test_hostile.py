"""Hostile input and faults, each run as a real subprocess with a time limit and an address-space limit: the
documented exit code, one line on stderr, no traceback, nothing that hangs or grows without bound."""

from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.model_files import write_model_dir
from tests.snapshots import gpu, machine

MEMORY_LIMIT = 1536 * 1024**2  # address space: python + pydantic + numpy fit well under it; /dev/zero read whole would not
TIME_LIMIT = 30.0  # seconds: every case must answer well within it (most take under one)


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run(*args: str, stdin: object = subprocess.DEVNULL, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "advisor", *args], stdin=stdin, capture_output=True, text=True,
                          timeout=TIME_LIMIT, preexec_fn=_limits, env={**os.environ, **(env or {})}, cwd=cwd,
                          check=False)
    return done, time.monotonic() - start


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip() and not ln.startswith("advisor: note:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture
def snap_file(tmp_path: Path) -> Path:
    path = tmp_path / "host.json"
    path.write_text(machine([gpu(0, "NVIDIA GeForce RTX 4090", 23.99, "8.9")]).to_json())
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


# --- FIFOs: refused at once, never waited on --------------------------------------------------------------------

@pytest.mark.parametrize("where", ["config.json", "model.safetensors", "model.safetensors.index.json"])
def test_fifo_in_a_model_directory(tmp_path, where):
    model = write_model_dir(tmp_path / "m")
    target = model / where
    if target.exists():
        target.unlink()
    if where.endswith("index.json"):
        (model / "model.safetensors").unlink(missing_ok=True)
    fifo(target)
    done, took = run("check", str(model), "--hardware", str(write_host(tmp_path)))
    assert done.returncode == 2 and took < 10
    assert "FIFO" in one_line(done) or "not a" in one_line(done)


def write_host(tmp_path: Path) -> Path:
    path = tmp_path / "host.json"
    if not path.exists():
        path.write_text(machine([]).to_json())
    return path


@pytest.mark.parametrize("args", [["check", "llama3.1:8b", "--hardware", "{f}"], ["probe", "--from", "{f}"],
                                  ["inventory", "add", "{f}", "--db", "{d}"]])
def test_fifo_as_an_input_file(tmp_path, args):
    f = fifo(tmp_path / "pipe.json")
    done, took = run(*[a.format(f=f, d=tmp_path / "inv.db") for a in args])
    assert done.returncode == 2 and took < 10
    assert "FIFO" in done.stderr


@pytest.mark.parametrize("name", ["pipe.gguf", "pipe.safetensors"])
def test_a_fifo_named_as_a_model_file_is_called_what_it_is(tmp_path, name):
    """A model path that exists but is a FIFO is refused at once as one, not as a missing file."""
    f = fifo(tmp_path / name)
    done, took = run("check", str(f), "--hardware", str(write_host(tmp_path)))
    assert done.returncode == 2 and took < 10
    assert "is a FIFO (named pipe)" in one_line(done) and "no such file" not in done.stderr


def test_fifo_in_a_snapshots_directory_is_skipped(tmp_path, snap_file):
    folder = tmp_path / "fleet"
    folder.mkdir()
    (folder / "a.json").write_text(snap_file.read_text())
    fifo(folder / "b.json")
    done, took = run("report", str(folder), "--format", "json")
    assert done.returncode == 0 and took < 10
    doc = json.loads(done.stdout)
    assert len(doc["hosts"]) == 1 and "FIFO" in doc["skipped"][0]["reason"]


def test_fifo_in_the_hugging_face_cache(tmp_path):
    hub = tmp_path / "hf" / "hub" / "models--acme--tiny"
    snap = hub / "snapshots" / "abc"
    snap.mkdir(parents=True)
    (hub / "refs").mkdir()
    (hub / "refs" / "main").write_text("abc")
    fifo(snap / "config.json")
    done, took = run("check", "acme/tiny", "--hardware", str(write_host(tmp_path)), env={"HF_HOME": str(tmp_path / "hf"),
                                                                                        "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2 and took < 10
    one_line(done)


# --- devices: never read to the end ----------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["check", "llama3.1:8b", "--hardware", "/dev/zero"], ["probe", "--from", "/dev/zero"],
                                  ["report", "/dev/zero"]])
def test_a_device_as_an_input_file(args):
    done, took = run(*args)
    assert done.returncode == 2 and took < 10
    assert "character device" in done.stderr


def test_dev_zero_behind_a_config_link(tmp_path):
    model = write_model_dir(tmp_path / "m")
    (model / "config.json").unlink()
    (model / "config.json").symlink_to("/dev/zero")
    done, took = run("check", str(model), "--hardware", str(write_host(tmp_path)))
    assert done.returncode == 2 and "character device" in one_line(done) and took < 10


def test_report_from_stdin_without_end():
    with open("/dev/zero", "rb") as zero:
        done, took = run("report", "-", stdin=zero)
    assert done.returncode == 2 and took < TIME_LIMIT
    assert "longer than 16 MiB" in done.stderr


def test_a_jsonl_line_without_end(tmp_path):
    path = tmp_path / "fleet.jsonl"
    with path.open("wb") as fh:
        fh.write(b"{" + b" " * (17 * 1024**2))
    done, _ = run("report", str(path), "--format", "json")
    assert done.returncode == 2 and "longer than 16 MiB" in done.stderr


# --- lying headers and configs --------------------------------------------------------------------------------------

def test_gguf_array_claiming_2_to_the_40_elements(tmp_path):
    path = tmp_path / "evil.gguf"
    key = b"tokenizer.ggml.tokens"
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", len(key)) + key
    head += struct.pack("<I", 9) + struct.pack("<I", 8) + struct.pack("<Q", 2**40)  # array of 2**40 strings
    path.write_bytes(head + b"\0" * (1024 - len(head)))
    done, took = run("check", str(path), "--hardware", str(write_host(tmp_path)))
    assert done.returncode == 2 and took < 10
    assert "malformed GGUF" in one_line(done)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"num_hidden_layers": 3 * 10**8}, "num_hidden_layers"),
        ({"num_hidden_layers": 10**12}, "num_hidden_layers"),
        ({"intermediate_size": -1}, "intermediate_size"),
        ({"head_dim": -64}, "head_dim"),
        ({"max_position_embeddings": -1}, "max_position_embeddings"),
        ({"hidden_size": "4096"}, "hidden_size"),
        ({"num_key_value_heads": 64}, "num_key_value_heads"),  # more KV heads than attention heads
    ],
)
def test_impossible_model_configs_name_the_field(tmp_path, override, field):
    model = write_model_dir(tmp_path / "m")
    cfg = json.loads((model / "config.json").read_text())
    cfg.update(override)
    (model / "config.json").write_text(json.dumps(cfg))
    done, took = run("check", str(model), "--hardware", str(write_host(tmp_path)))
    assert done.returncode == 2 and took < 10
    assert field in one_line(done)


def test_more_experts_per_token_than_experts(tmp_path):
    from advisor.errors import BadInputError
    from advisor.models.count import count_config

    cfg = {"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
           "num_key_value_heads": 2, "vocab_size": 100, "intermediate_size": 128, "num_local_experts": 4,
           "num_experts_per_tok": 8}
    with pytest.raises(BadInputError, match="num_experts_per_tok = 8 exceeds the 4 experts"):
        count_config(cfg, "cfg.json")


def test_overlapping_safetensors_offsets(tmp_path):
    header = {"a": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]},
              "b": {"dtype": "F16", "shape": [4], "data_offsets": [4, 12]}}
    raw = json.dumps(header).encode()
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 16)
    done, _ = run("check", str(path), "--hardware", str(write_host(tmp_path)))
    assert done.returncode == 2 and "overlap" in one_line(done)


def test_deep_json_and_wrong_types_in_a_snapshot(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 10000 + "]" * 10000)
    done, _ = run("check", "llama3.1:8b", "--hardware", str(deep))
    assert done.returncode == 2 and "nested" in one_line(done)
    doc = json.loads(machine([]).to_json())
    doc["memory"]["total_bytes"] = "lots"
    typed = tmp_path / "typed.json"
    typed.write_text(json.dumps(doc))
    done, _ = run("check", "llama3.1:8b", "--hardware", str(typed))
    assert done.returncode == 2 and "memory.total_bytes" in one_line(done)


def test_truncated_pretty_snapshot_in_a_report_is_one_line(tmp_path, snap_file):
    cut = tmp_path / "cut.json"
    cut.write_text(snap_file.read_text()[:500])
    done, _ = run("report", str(cut))
    assert done.returncode == 2
    skipped = [ln for ln in done.stderr.splitlines() if "skipped" in ln]
    assert len(skipped) == 1 and "cut.json" in skipped[0] and "not valid JSON" in skipped[0]


# --- lying hardware numbers: never a fit --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "lie",
    [
        {"memory_free_bytes": 2 * int(79.6 * 1024**3)},  # free twice the total
        {"memory_total_bytes": 10**30, "memory_free_bytes": 10**30},
        {"memory_total_bytes": 0, "memory_free_bytes": 0},  # a data-center GPU "with no memory"
        {"unified_memory": True},  # and one claiming to be unified
        {"memory_free_bytes": -5},
    ],
)
def test_lying_gpu_numbers_cannot_tell(tmp_path, lie):
    doc = json.loads(machine([gpu(0, "NVIDIA H100 80GB HBM3", 79.6, "9.0")], ram_gib=2048).to_json())
    doc["gpus"][0].update(lie)
    path = tmp_path / "lie.json"
    path.write_text(json.dumps(doc))
    done, _ = run("check", "llama3.1:70b", "--gpus", "0", "--hardware", str(path), "--format", "json")
    assert done.returncode == 3, done.stdout
    result = json.loads(done.stdout)
    assert result["fits"] is False and "could not be trusted" in result["cannot_tell"]


def test_newer_minor_schema_is_read_and_says_what_it_ignored(tmp_path):
    doc = json.loads(machine([gpu(0, "NVIDIA GeForce RTX 4090", 23.99, "8.9")]).to_json())
    doc["schema_version"] = "1.7"
    doc["gpus"][0]["fan_speed_percent"] = 40
    doc["new_section"] = {"x": 1}
    path = tmp_path / "newer.json"
    path.write_text(json.dumps(doc))
    done, _ = run("check", "qwen2.5:0.5b", "--hardware", str(path))
    assert done.returncode == 0, done.stderr
    assert "gpus[0].fan_speed_percent" in done.stderr and "new_section" in done.stderr


def test_ten_thousand_gpus_decide_in_seconds(tmp_path):
    doc = json.loads(machine([gpu(i, "NVIDIA H100 80GB HBM3", 79.6, "9.0") for i in range(10000)]).to_json())
    path = tmp_path / "big.json"
    path.write_text(json.dumps(doc))
    done, took = run("check", "llama3.1:70b", "--hardware", str(path))
    assert done.returncode == 0 and took < TIME_LIMIT


# --- options and output --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "args",
    [
        ["check", "llama3.1:8b", "--context", "1" + " " * 50000 + "x"],
        ["check", "llama3.1:8b", "--context", "9" * 5000],
        ["check", "llama3.1:8b", "--headroom", "1" + " " * 50000 + "x"],
        ["check", "llama3.1:8b", "--gpu", "RTX" + " " * 50000 + "x"],
        ["check", "x" * 4000],
        ["probe", "--nvml-timeout", "inf"],
        ["inventory", "diff", "--since", "99999999d"],
    ],
)
def test_absurd_options_are_one_line_exit_2(tmp_path, args):
    done, took = run(*args, cwd=tmp_path)
    assert done.returncode == 2 and took < 10
    one_line(done)


def test_any_locale_prints(tmp_path, snap_file):
    done, _ = run("fit", "llama3.1:8b", "--hardware", str(snap_file), env={"PYTHONIOENCODING": "ascii"})
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "1x NVIDIA GeForce RTX 4090" in done.stdout


# --- writes -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/dev/stdout", "/dev/null", "/proc/self/environ", "/sys/kernel/x"])
def test_atomic_writer_refuses_system_paths(target):
    done, _ = run("probe", "--no-torch", "--output", target)
    assert done.returncode == 2 and "does not write into" in one_line(done)


def test_atomic_writer_keeps_the_mode_and_refuses_links_out(tmp_path, snap_file):
    out = tmp_path / "fleet.html"
    out.write_text("old")
    out.chmod(0o644)
    done, _ = run("report", str(snap_file), "--format", "html", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert out.stat().st_mode & 0o777 == 0o644 and out.read_text().lower().startswith("<!doctype html>")
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    (elsewhere / "victim.txt").write_text("keep")
    link = tmp_path / "link.txt"
    link.symlink_to(elsewhere / "victim.txt")
    done, _ = run("probe", "--no-torch", "--output", str(link))
    assert done.returncode == 2 and "link out of its directory" in one_line(done)
    assert (elsewhere / "victim.txt").read_text() == "keep"


def test_inventory_add_keeps_the_good_lines_and_names_the_bad(tmp_path, snap_file):
    good = json.loads(snap_file.read_text())
    bad_time = dict(good, taken_at="yesterday", host={**good["host"], "hostname": "h2"})
    third = dict(good, host={**good["host"], "hostname": "h3"})
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join([json.dumps(good), "{not json", json.dumps(bad_time), json.dumps(third)]) + "\n")
    done, _ = run("inventory", "add", str(path), "--db", str(tmp_path / "inv.db"))
    assert done.returncode == 0, done.stderr
    assert "added 2 snapshots" in done.stdout and "rejected 2" in done.stdout
    assert f"{path}:2" in done.stderr and f"{path}:3" in done.stderr
