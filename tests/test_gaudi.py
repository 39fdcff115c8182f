"""Intel Gaudi (HPU): a what-if accelerator from the GPU table and a habanalabs device the probe sees, planned with
vLLM's Gaudi plugin only, in the formats that plugin loads, with its own reading of --gpu-memory-utilization."""

from __future__ import annotations

from pathlib import Path

from advisor import api
from advisor.launch import settings_for
from advisor.models.resolve import resolve
from probes.accelerators import probe_accelerators
from probes.schema import AcceleratorsSection, OtherAccelerator
from rules.plan import Request
from rules.workloads import decide
from tests.snapshots import NO_GPU

GIB = 1024**3


def gaudi(total_gib: float | None, count: int = 1):
    cards = [OtherAccelerator(kind="gaudi", name="Intel Gaudi 3", path=f"/dev/accel/accel{i}",
                              memory_total_bytes=int(total_gib * GIB) if total_gib else None, memory_used_bytes=0)
             for i in range(count)]
    return NO_GPU.model_copy(update={"accelerators": AcceleratorsSection(status="ok", devices=cards)})


def test_what_if_gaudi_3_plans_vllm_and_selects_its_modules():
    res = api.recommend("Llama-3.1-8B-Instruct", gpu="Gaudi 3")
    assert res.plan is not None and (res.plan.engine, res.plan.devices) == ("vllm", ["gpu:hpu0"])
    assert res.settings is not None and res.settings["env"] == {"HABANA_VISIBLE_MODULES": "0"}
    assert "CUDA_VISIBLE_DEVICES" not in res.settings["command"]
    assert any("vllm-gaudi plugin" in n for n in res.plan.notes)
    assert res.hardware.line.count("Intel Gaudi 3 (what-if)") == 1


def test_gaudi_refuses_the_engines_and_formats_it_does_not_run():
    spec = resolve("Llama-3.1-8B-Instruct")
    hpu = gaudi(124)
    cpp = decide(spec, hpu, Request(engine="llama.cpp", allow_cpu=False))
    assert not cpp.fits and any("does not run on Intel Gaudi" in r.reason for r in cpp.rejected)
    hf = decide(spec, hpu, Request(engine="transformers", allow_cpu=False))
    assert not hf.fits and any("does not run on Intel Gaudi" in r.reason for r in hf.rejected)
    nvfp4 = decide(spec, hpu, Request(precision="nvfp4", allow_cpu=False))
    assert not nvfp4.fits and any("nvfp4 does not run on Intel Gaudi" in r.reason for r in nvfp4.rejected)


def test_gaudi_reads_the_memory_flag_as_a_share_of_what_the_weights_leave():
    """vllm-gaudi (hpu_worker.py): the KV cache gets (free - weights - profile) x gpu_memory_utilization x (1 -
    VLLM_GRAPH_RESERVED_MEM 0.1); the reservation is that share on top of the weights and the profile run."""
    spec = resolve("Llama-3.1-8B-Instruct")
    rec = decide(spec, gaudi(124), Request(engine="vllm", precision="bf16", context=8192, gpu_memory_utilization=0.9))
    assert rec.plan is not None
    use = rec.plan.per_device[0]
    m = use.memory
    fixed = m.weights_bytes + m.activations_bytes + m.runtime_bytes
    free = use.free_bytes or 0
    assert use.reserved_bytes == fixed + int(0.9 * (free - fixed))
    # a KV cache larger than 0.9 of that share does not fit, however much the share itself is
    tight = decide(spec, gaudi(20.5), Request(engine="vllm", precision="bf16", context=131072, headroom="0",
                                             gpu_memory_utilization=0.99, allow_cpu=False))
    assert not tight.fits


def test_a_gaudi_the_probe_finds_without_its_memory_is_not_guessed(tmp_path: Path):
    driver = tmp_path / "sys/bus/pci/drivers/habanalabs"
    driver.mkdir(parents=True)
    dev = tmp_path / "sys/class/accel/accel0/device"
    dev.mkdir(parents=True)
    (dev / "driver").symlink_to(driver)
    section = probe_accelerators(tmp_path, {}, system="Linux", machine="x86_64")
    assert [(d.kind, d.path) for d in section.devices] == [("gaudi", "/dev/accel/accel0")]
    assert section.status == "partial" and "hl-smi" in section.errors[0]
    rec = decide(resolve("Llama-3.1-8B-Instruct"), gaudi(None), Request(placement="single-gpu"))
    assert not rec.fits and rec.cannot_tell and "could not be read (its memory size)" in rec.cannot_tell
    plan = decide(resolve("Llama-3.1-8B-Instruct"), gaudi(124), Request()).plan
    assert plan is not None and settings_for(plan, resolve("Llama-3.1-8B-Instruct"))["env"] == {
        "HABANA_VISIBLE_MODULES": "0"}
