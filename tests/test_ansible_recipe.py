"""The README's Ansible recipes, run with the real ansible-core against localhost (local connection), feeding
`advisor report`: the ad-hoc command + fetch, the playbook in recipes/ansible/, and the custom fact."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ADVISOR = shutil.which("advisor", path=str(BIN)) or shutil.which("advisor")
ANSIBLE = shutil.which("ansible", path=str(BIN)) or shutil.which("ansible")

pytestmark = pytest.mark.skipif(ANSIBLE is None or ADVISOR is None, reason="ansible-core is a dev dependency")


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    e = dict(os.environ, ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
             ANSIBLE_INVENTORY=str(inventory), LC_ALL="C.UTF-8", ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="0",
             PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    e.pop("ANSIBLE_CONFIG", None)
    return e


def run(args: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def report(sources: list[str], cwd: Path) -> dict:
    out = run([str(ADVISOR), "report", *sources, "--format", "json"], dict(os.environ), cwd)
    return json.loads(out)


def test_ad_hoc_command_and_fetch(tmp_path: Path, env: dict[str, str]) -> None:
    run([str(ANSIBLE), "all", "-m", "ansible.builtin.command", "-a",
         f"{ADVISOR} probe --no-torch --output {tmp_path}/advisor-snapshot.json"], env, tmp_path)
    run([str(ANSIBLE), "all", "-m", "ansible.builtin.fetch", "-a",
         f"src={tmp_path}/advisor-snapshot.json dest={tmp_path}/snapshots/"], env, tmp_path)
    doc = report([str(tmp_path / "snapshots")], tmp_path)
    assert len(doc["hosts"]) == 1 and doc["skipped"] == []
    assert doc["hosts"][0]["source"].endswith("advisor-snapshot.json")
    assert doc["hosts"][0]["ram_total_bytes"] > 0


def test_playbook_collects_into_a_folder(tmp_path: Path, env: dict[str, str]) -> None:
    playbook = shutil.which("ansible-playbook", path=str(BIN)) or "ansible-playbook"
    run([playbook, str(ROOT / "recipes" / "ansible" / "collect.yml"), "-e", f"advisor={ADVISOR}",
         "-e", f"out={tmp_path}/snapshots"], env, tmp_path)
    assert [p.name for p in (tmp_path / "snapshots").iterdir()] == ["localhost.json"]
    doc = report([str(tmp_path / "snapshots")], tmp_path)
    assert len(doc["hosts"]) == 1 and doc["problems"] == []


def test_custom_fact(tmp_path: Path, env: dict[str, str]) -> None:
    facts = tmp_path / "facts.d"
    facts.mkdir()
    shutil.copy(ROOT / "recipes" / "ansible" / "advisor.fact", facts / "advisor.fact")
    (facts / "advisor.fact").chmod(0o755)
    out = run([str(ANSIBLE), "all", "-m", "ansible.builtin.setup", "-a", f"fact_path={facts} filter=ansible_local"],
              env, tmp_path)
    body = out[out.index("{"):]
    snapshot = json.loads(body)["ansible_facts"]["ansible_local"]["advisor"]
    assert snapshot["schema_version"] == "1.0"
    (tmp_path / "from-fact.json").write_text(json.dumps(snapshot))
    doc = report([str(tmp_path / "from-fact.json")], tmp_path)
    assert len(doc["hosts"]) == 1
