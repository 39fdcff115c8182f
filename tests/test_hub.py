"""Hub metadata through the real `huggingface_hub` client over real HTTP, against a Hub started on loopback
(tests/fakes/hub_server.py): public, gated (401), missing (404), slow (timeout), rate-limited (429), an
architecture advisor does not count (weights from safetensors headers by range), a GGUF-only repo, offline, and
the cache making the next call offline. No test reaches any other host."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from advisor.models.count import count_config
from tests.fakes.hub_server import FakeHub, Repo
from tests.model_files import TINY_LLAMA, write_model_dir


def files_of(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


@pytest.fixture
def hub(tmp_path: Path):
    with FakeHub() as h:
        tiny = files_of(write_model_dir(tmp_path / "tiny"))
        h.add("acme/wee-test-llama", Repo(files={**tiny, "README.md": b"# tiny"}))
        h.add("acme/gated-llama", Repo(files=tiny, gated=True))
        h.add("acme/slow-llama", Repo(files=tiny, delay_s=5.0))
        h.add("acme/busy-llama", Repo(files=tiny, status=429))
        new_cfg = {**TINY_LLAMA, "model_type": "frobnicator", "architectures": ["FrobnicatorForCausalLM"]}
        new = dict(tiny, **{"config.json": json.dumps(new_cfg).encode()})
        h.add("acme/frobnicator-tiny", Repo(files=new))
        h.add("acme/tiny-GGUF", Repo(files={"tiny.Q4_K_M.gguf": b"GGUF" + b"\0" * 2000, "README.md": b"x"}))
        yield h


def run(hub: FakeHub, tmp_path: Path, *args: str, offline: bool = False, extra: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_TOKEN")}
    env.update({"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "ADVISOR_HUB_TIMEOUT": "3",
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost", **(extra or {})})
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run([sys.executable, "-m", "advisor", *args], capture_output=True, text=True, timeout=60,
                          env=env, check=False)


def no_weights_fetched(hub: FakeHub) -> None:
    for method, path, rng in hub.state.log:
        if path.split("?")[0].endswith((".safetensors", ".gguf", ".bin")) and method == "GET":
            assert rng is not None, f"weights fetched: {method} {path}"


def test_a_public_repo_is_counted_exactly_from_its_config(hub, tmp_path):
    done = run(hub, tmp_path, "models", "show", "acme/wee-test-llama", "--json")
    assert done.returncode == 0, done.stderr
    spec = json.loads(done.stdout)["model"]
    assert spec["source"] == "hub" and spec["exact"] is True
    assert spec["params_total"] == count_config(TINY_LLAMA, "x").total
    no_weights_fetched(hub)
    # what was read is cached: the next call, offline, resolves from the Hugging Face cache without a request
    before = len(hub.state.log)
    again = run(hub, tmp_path, "check", "acme/wee-test-llama", "--json", offline=True)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["model"]["params_total"] == spec["params_total"]
    assert len(hub.state.log) == before


def test_offline_never_asks(hub, tmp_path):
    for how in ({"offline": True}, {"extra": {}}):
        args = ["check", "acme/wee-test-llama"] + (["--offline"] if not how.get("offline") else [])
        done = run(hub, tmp_path / "fresh", *args, offline=bool(how.get("offline")))
        assert done.returncode == 2 and "off" in done.stderr
    assert hub.state.log == []


def test_gated_repo_says_what_to_do(hub, tmp_path):
    done = run(hub, tmp_path, "check", "acme/gated-llama")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "gated on the Hub" in done.stderr and "HF_TOKEN" in done.stderr
    with_token = run(hub, tmp_path, "check", "acme/gated-llama", "--json", extra={"HF_TOKEN": "hf_test"})
    assert with_token.returncode == 0, with_token.stderr


def test_missing_repo(hub, tmp_path):
    done = run(hub, tmp_path, "check", "acme/no-such-model")
    assert done.returncode == 2 and "not on the Hub" in done.stderr and done.stderr.count("\n") == 1


def test_a_missing_repo_with_a_size_in_its_name_is_approximate_and_says_why(hub, tmp_path):
    done = run(hub, tmp_path, "check", "acme/Frobnicator-13B-Chat", "--json")
    assert done.returncode == 3
    doc = json.loads(done.stdout)
    assert doc["model"]["exact"] is False and "approximately" in doc["cannot_tell"]


def test_a_slow_hub_is_time_bounded(hub, tmp_path):
    done = run(hub, tmp_path, "check", "acme/slow-llama")
    assert done.returncode == 2 and "did not answer within 3 s" in done.stderr


def test_rate_limited(hub, tmp_path):
    done = run(hub, tmp_path, "check", "acme/busy-llama")
    assert done.returncode == 2 and "rate-limiting" in done.stderr


def test_an_unknown_architecture_is_counted_from_its_safetensors_headers(hub, tmp_path):
    done = run(hub, tmp_path, "models", "show", "acme/frobnicator-tiny", "--json")
    assert done.returncode == 0, done.stderr
    spec = json.loads(done.stdout)["model"]
    # the weights are exact (the header's elements), the KV shape is marked estimated
    assert spec["params_total"] == count_config(TINY_LLAMA, "x").total
    assert spec["exact"] is False and "kv_heads" in spec["estimated"]
    assert any("safetensors headers" in n for n in spec["notes"])
    no_weights_fetched(hub)
    ranged = [p for m, p, r in hub.state.log if p.endswith("model.safetensors") and m == "GET"]
    assert ranged  # the header was read, by range


def test_a_gguf_only_repo_lists_its_quants(hub, tmp_path):
    done = run(hub, tmp_path, "check", "acme/tiny-GGUF")
    assert done.returncode == 2 and "tiny.Q4_K_M.gguf" in done.stderr and "GGUF repository" in done.stderr


def test_a_pinned_revision(hub, tmp_path):
    done = run(hub, tmp_path, "models", "show", "acme/wee-test-llama@0123456789abcdef0123456789abcdef01234567", "--json")
    assert done.returncode == 0, done.stderr
    assert "/revision/0123456789abcdef" in " ".join(p for _m, p, _r in hub.state.log)
