"""AMD GPUs (ROCm), seen by the probe in sysfs, planned for: token LLMs with the engines that have ROCm builds and
the formats AMD runs, other kinds with the runtimes that do, and the settings select them with HIP."""

from __future__ import annotations

from advisor.launch import settings_for
from advisor.models import catalog
from advisor.models.resolve import resolve
from probes.schema import AcceleratorsSection, OtherAccelerator
from rules.plan import Request
from rules.workloads import decide
from tests.snapshots import NO_GPU

GIB = 1024**3


def amd(name: str, total_gib: float, used_gib: float = 0.5):
    card = OtherAccelerator(kind="amd-gpu", name=name, path="/sys/class/drm/card0",
                            memory_total_bytes=int(total_gib * GIB), memory_used_bytes=int(used_gib * GIB))
    return NO_GPU.model_copy(update={"accelerators": AcceleratorsSection(status="ok", devices=[card])})


def test_an_instinct_runs_a_70b_in_bf16_and_fp8_with_vllm():
    spec = resolve("llama3.3:70b")
    mi300x = amd("AMD Instinct MI300X", 191.98)
    rec = decide(spec, mi300x, Request())
    assert rec.fits and rec.plan is not None
    assert (rec.plan.precision, rec.plan.engine, rec.plan.devices) == ("bf16", "vllm", ["gpu:rocm0"])
    assert settings_for(rec.plan, spec)["env"] == {"HIP_VISIBLE_DEVICES": "0"}
    fp8 = decide(spec, mi300x, Request(precision="fp8"))
    assert fp8.fits and fp8.plan is not None and fp8.plan.devices == ["gpu:rocm0"]


def test_a_radeon_refuses_cuda_only_engines_and_formats():
    radeon = amd("AMD Radeon RX 7900 XTX", 23.98)
    spec = resolve("llama3.1:8b")
    trt = decide(spec, radeon, Request(engine="tensorrt-llm"))
    assert not trt.fits and any("does not run on AMD GPUs" in r.reason for r in trt.rejected)
    awq = decide(resolve("qwen2.5:7b"), radeon, Request(precision="awq"))
    assert not any(p.devices == ["gpu:rocm0"] for p in [awq.plan, *awq.alternatives] if p)
    assert any("no ROCm kernels" in r.reason for r in awq.rejected)
    fp8 = decide(spec, radeon, Request(precision="fp8"))  # FP8 matrix cores are CDNA3's (MI300), not RDNA3's
    assert not any(p.devices == ["gpu:rocm0"] for p in [fp8.plan, *fp8.alternatives] if p)


def test_vision_on_an_amd_gpu_uses_rocm_pytorch():
    radeon = amd("AMD Radeon RX 7900 XTX", 23.98)
    rec = decide(catalog.spec_for("ResNet-50"), radeon, Request(batch=64))
    assert rec.plan is not None and rec.plan.devices == ["gpu:rocm0"] and rec.plan.engine == "pytorch"
    s = settings_for(rec.plan, catalog.spec_for("ResNet-50"))
    assert "'cuda'" in s["python"] and s["env"] == {"HIP_VISIBLE_DEVICES": "0"}
    assert not any(p.engine == "tensorrt" for p in [rec.plan, *rec.alternatives] if p)


def test_an_amd_gpu_whose_vram_is_unreadable_is_not_guessed():
    card = OtherAccelerator(kind="amd-gpu", name="AMD GPU (device 0x744c)", path="/sys/class/drm/card0")
    snap = NO_GPU.model_copy(update={"accelerators": AcceleratorsSection(status="partial", devices=[card])})
    rec = decide(resolve("llama3.1:8b"), snap, Request(placement="single-gpu"))
    assert not rec.fits and rec.cannot_tell and "could not be read (its VRAM size)" in rec.cannot_tell


def test_what_if_amd_gpus_come_in_as_rocm_devices_not_nvml_ones():
    """--gpu "MI300X": AMD GPUs are what the probe finds in sysfs, so the what-if machine carries them as amd-gpu
    accelerators (and no NVIDIA GPU); plans use gpu:rocmN, FP8 on CDNA 3, and the machine line names them."""
    from advisor import api
    from advisor.requests import hardware
    from advisor.results import hardware_summary

    snap = hardware(gpu="2x MI300X")
    assert snap.gpus == [] and [a.kind for a in snap.accelerators.devices].count("amd-gpu") == 2
    amd = [a for a in snap.accelerators.devices if a.kind == "amd-gpu"][0]
    assert amd.memory_total_bytes == int(192 * 2**30 * 0.97)  # the marketed 192 GB of HBM3, less reservations
    assert "2× AMD Instinct MI300X (what-if)" in hardware_summary(snap).line
    fp8 = api.recommend("llama3.1:70b", gpu="MI300X", precision="fp8", engine="vllm")
    assert fp8.fits and fp8.plan is not None and fp8.plan.devices == ["gpu:rocm0"]
    consumer = api.recommend("llama3.1:8b", gpu="RX 7900 XTX", precision="fp8", engine="vllm")
    assert not consumer.fits and any("fp8" in r.reason for r in consumer.rejected)
