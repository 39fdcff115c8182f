"""`advisor inventory add|diff` and `report --db`: SQLite history, rejected snapshots, concurrent writers."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor.cli import app
from advisor.fleet_input import read_all
from advisor.inventory import Inventory
from tests.fleetgen import fleet

runner = CliRunner()


def at(days_ago: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(days=days_ago)).isoformat(timespec="seconds")


def write(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0])


def test_add_keeps_good_snapshots_and_rejects_bad_ones_by_name(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    good = write(tmp_path / "good.jsonl", fleet(5, seed=1, taken_at=at(1)))
    (tmp_path / "bad.json").write_text('{"schema_version": "1.0"}')
    result = runner.invoke(app, ["inventory", "add", str(good), str(tmp_path / "bad.json"), "--db", str(db)])
    assert result.exit_code == 0
    assert "added 5 snapshots" in result.stdout and "rejected 1" in result.stdout
    assert result.stderr.count("\n") == 1 and f"rejected {tmp_path / 'bad.json'}: field tool" in result.stderr
    assert rows(db) == 5
    # the same snapshots again are stored once
    result = runner.invoke(app, ["inventory", "add", str(good), "--db", str(db)])
    assert "added 0 snapshots (5 already stored)" in result.stdout and rows(db) == 5


def test_nothing_valid_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    (tmp_path / "bad.json").write_text("nope")
    result = runner.invoke(app, ["inventory", "add", str(tmp_path / "bad.json"), "--db", str(db)])
    assert result.exit_code == 2 and rows(db) == 0


def test_a_failing_batch_leaves_the_database_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "inv.db"
    inv = Inventory(db)
    first, _ = read_all([str(write(tmp_path / "a.jsonl", fleet(3, seed=1, taken_at=at(2))))])
    assert inv.add(first) == (3, 0)
    batch, _ = read_all([str(write(tmp_path / "b.jsonl", fleet(50, seed=2, taken_at=at(1))))])
    # the disk fills up half-way through the batch
    real = inv.conn

    class Failing:
        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        def executemany(self, sql: str, params: list) -> object:
            real.executemany(sql, params[:25])
            raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(inv, "conn", Failing())
    with pytest.raises(sqlite3.OperationalError):
        inv.add(batch)
    monkeypatch.undo()
    assert rows(db) == 3  # none of the 25 written before the failure stayed
    inv.close()


def test_two_writers_at_once_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    files = [write(tmp_path / f"w{i}.jsonl", fleet(200, seed=10 + i, taken_at=at(i))) for i in range(2)]
    Inventory(db).close()
    procs = [subprocess.Popen([sys.executable, "-m", "advisor", "inventory", "add", str(f), "--db", str(db)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in files]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert rows(db) == 400
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_report_from_the_database_uses_each_hosts_newest(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    old = fleet(4, seed=3, taken_at=at(3))
    new = json.loads(json.dumps(old))
    for d in new:
        d["taken_at"] = at(0.01)
        d["memory"]["total_bytes"] += 1024**3
    runner.invoke(app, ["inventory", "add", str(write(tmp_path / "old.jsonl", old)), "--db", str(db)])
    runner.invoke(app, ["inventory", "add", str(write(tmp_path / "new.jsonl", new)), "--db", str(db)])
    result = runner.invoke(app, ["report", "--db", str(db), "--format", "json"])
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert len(out["hosts"]) == 4
    assert {h["host"]: h["ram_total_bytes"] for h in out["hosts"]} == {d["host"]["hostname"]: d["memory"]["total_bytes"] for d in new}
    assert not [p for p in out["problems"] if p["kind"] in ("duplicate", "stale")]


def test_diff_names_missing_gpus_changed_memory_drivers_and_quiet_hosts(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    docs = [d for d in fleet(40, seed=4, taken_at=at(5)) if len(d["gpus"]) >= 2][:3]
    assert len(docs) == 3
    changed = json.loads(json.dumps(docs[0]))
    gone = changed["gpus"].pop()
    changed["nvml"]["driver_version"] = "580.65.06"
    changed["memory"]["total_bytes"] *= 2
    changed["taken_at"] = at(0.5)
    same = json.loads(json.dumps(docs[1]))
    same["taken_at"] = at(0.5)
    same["memory"]["available_bytes"] //= 2  # free memory moves: not a change
    newcomer = fleet(1, seed=99, taken_at=at(0.5))[0]
    newcomer["host"]["hostname"] = "newcomer"
    for name, batch in (("before", docs), ("after", [changed, same, newcomer])):
        runner.invoke(app, ["inventory", "add", str(write(tmp_path / f"{name}.jsonl", batch)), "--db", str(db)])
    result = runner.invoke(app, ["inventory", "diff", "--since", "2d", "--db", str(db), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    found = {(c["host"], c["kind"]): c["detail"] for c in json.loads(result.stdout)["changes"]}
    h0, h1, h2 = (d["host"]["hostname"] for d in docs)
    assert gone["uuid"] in found[(h0, "gpu-missing")]
    assert "580.65.06" in found[(h0, "driver")]
    assert (h0, "ram") in found
    assert not [k for k in found if k[0] == h1]
    assert (h2, "quiet") in found
    assert (newcomer["host"]["hostname"], "new-host") in found
    text = runner.invoke(app, ["inventory", "diff", "--since", at(2)[:10], "--db", str(db)])
    assert text.exit_code == 0 and "gpu-missing" in text.stdout


def test_bad_database_and_dates_are_one_line_exit_2(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    for args in (["report", "--db", str(junk)], ["report", "--db", str(tmp_path / "none.db")],
                 ["inventory", "diff", "--since", "yesterday-ish", "--db", str(junk)],
                 ["inventory", "diff", "--since", "3d", "--db", str(junk)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, args
        assert result.stderr.count("\n") == 1, (args, result.stderr)


def test_diff_since_before_the_history_still_lists_the_changes_and_a_lost_gpu(tmp_path: Path) -> None:
    # The inventory starts 5 days ago. --since 30d must not call every host new and drop what changed: it
    # compares each host's first snapshot with its latest, and says where the history starts.
    db = tmp_path / "inv.db"
    docs = [d for d in fleet(40, seed=4, taken_at=at(5)) if len(d["gpus"]) >= 2][:2]
    lost = json.loads(json.dumps(docs[0]))
    was = lost["gpus"][1]
    # NVML still lists GPU 1 but cannot read it: what the probe writes for "GPU is lost"
    lost["gpus"][1] = {"index": 1, "errors": ["handle: GPU is lost (NVML error 15)"]}
    lost["nvml"]["driver_version"] = "580.65.06"
    lost["taken_at"] = at(0.5)
    for name, batch in (("before", docs), ("after", [lost])):
        runner.invoke(app, ["inventory", "add", str(write(tmp_path / f"{name}.jsonl", batch)), "--db", str(db)])
    for since in ("30d", "7d", "2d"):
        result = runner.invoke(app, ["inventory", "diff", "--since", since, "--db", str(db), "--format", "json"])
        assert result.exit_code == 0, result.stderr
        doc = json.loads(result.stdout)
        found = {(c["host"], c["kind"]): c["detail"] for c in doc["changes"]}
        host = docs[0]["host"]["hostname"]
        assert "580.65.06" in found[(host, "driver")], since
        assert was["uuid"] in found[(host, "gpu-lost")] and "GPU is lost" in found[(host, "gpu-lost")], since
        assert (host, "gpu-missing") not in found and (host, "gpu-added") not in found, since
        assert not [k for k in found if k[1] == "new-host"], since
        assert (doc["history"] is not None) == (since != "2d"), since


def test_a_driver_with_no_gpu_is_a_problem(tmp_path: Path) -> None:
    doc = fleet(1, seed=3, taken_at=at(0))[0]
    doc["gpus"] = []
    doc["nvml"].update({"status": "ok", "errors": [], "device_count": 0, "cuda_visible": [], "driver_version": "550.54.15"})
    path = write(tmp_path / "one.jsonl", [doc])
    result = runner.invoke(app, ["report", str(path), "--format", "json"])
    problems = json.loads(result.stdout)["problems"]
    assert any("driver 550.54.15 is loaded but NVML lists no GPU" in p["detail"] for p in problems), problems
