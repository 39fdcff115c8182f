"""advisor verify's parts without a measuring process: the GPU meter against a stand-in torch.cuda allocator and
the fake pynvml, the plan chosen on a GPU machine and the job it hands the child, the comparison's arithmetic,
and a recorded measurement as the floor of fit's estimate."""

from __future__ import annotations

import os
from typing import Any

import pytest

from advisor.commands.verify import choose, lengths, unmeasurable
from advisor.models.resolve import resolve
from advisor.verify.child import CudaMeter
from advisor.verify.compare import compare
from advisor.verify.config import config_for
from advisor.verify.measurers import job_for
from advisor.verify.session import child_env
from rules.phases import phases
from rules.plan import Measured, Request
from rules.precisions import BY_NAME
from rules.workloads import decide
from tests.fakes import fake_pynvml
from tests.snapshots import NO_GPU, machine, rtx4090

MIB = 1024**2
GIB = 1024**3
BLOCK = 2 * MIB  # the caching allocator rounds large segments to 2 MiB


class FakeCudaAllocator:
    """torch.cuda's memory statistics as the caching allocator keeps them: allocated, reserved (whole 2 MiB
    segments, kept after frees), and their peaks since the last reset."""

    def __init__(self) -> None:
        self.allocated = self.reserved = self.peak_allocated = self.peak_reserved = 0
        self.synced = 0

    def malloc(self, n: int) -> None:
        self.allocated += n
        if self.allocated > self.reserved:
            self.reserved = -(-self.allocated // BLOCK) * BLOCK
        self.peak_allocated = max(self.peak_allocated, self.allocated)
        self.peak_reserved = max(self.peak_reserved, self.reserved)

    def free(self, n: int) -> None:
        self.allocated -= n

    def synchronize(self, device: Any = None) -> None:
        self.synced += 1

    def memory_allocated(self, device: Any = None) -> int:
        return self.allocated

    def memory_reserved(self, device: Any = None) -> int:
        return self.reserved

    def max_memory_allocated(self, device: Any = None) -> int:
        return self.peak_allocated

    def max_memory_reserved(self, device: Any = None) -> int:
        return self.peak_reserved

    def reset_peak_memory_stats(self, device: Any = None) -> None:
        self.peak_allocated, self.peak_reserved = self.allocated, self.reserved


class FakeTorch:
    def __init__(self) -> None:
        self.cuda = FakeCudaAllocator()


def test_cuda_meter_reads_each_phase_and_the_process_from_nvml() -> None:
    torch = FakeTorch()
    context = 500 * MIB
    gpu = fake_pynvml.rtx_4090().gpus[0]
    me = fake_pynvml.FakeProcess(os.getpid(), "python", context)
    gpu.processes.append(me)
    nvml = fake_pynvml.build(fake_pynvml.FakeMachine([gpu]))
    nvml.nvmlInit()
    meter = CudaMeter(torch, "cuda:0", 0, nvml)
    assert meter.now() == {"allocated_bytes": 0, "reserved_bytes": 0, "process_bytes": context}
    weights, kv, scratch = 1000 * MIB, 64 * MIB, 300 * MIB + 5
    torch.cuda.malloc(weights)
    built = meter.now()
    meter.start()
    torch.cuda.malloc(kv)
    torch.cuda.malloc(scratch)  # the prefill's activations, freed before decoding
    torch.cuda.free(scratch)
    me.used_bytes = context + torch.cuda.reserved
    prefill = meter.peak()
    meter.start()
    torch.cuda.malloc(2 * MIB)
    torch.cuda.free(2 * MIB)
    decode = meter.peak()
    assert built["allocated_bytes"] == weights
    assert prefill["peak_allocated_bytes"] == weights + kv + scratch
    assert prefill["peak_reserved_bytes"] == -(-(weights + kv + scratch) // BLOCK) * BLOCK
    # after the reset the decode's peak starts from what is allocated now, not from the prefill's peak
    assert decode["peak_allocated_bytes"] == weights + kv + 2 * MIB
    assert decode["process_bytes"] == context + torch.cuda.reserved

    run = {"after_imports": {"allocated_bytes": 0, "reserved_bytes": 0, "process_bytes": context},
           "after_build": built, "kv_cache_bytes": kv, "phases": {"prefill": prefill, "decode": decode}}
    spec = resolve("Qwen2.5-0.5B-Instruct")
    pre, dec = phases(spec, BY_NAME["bf16"], "transformers", 1000, 1008, 1, "auto", on_cpu=False)  # type: ignore[misc]
    cmp = compare(pre, dec, [run], 1000, 8, on_gpu=True)
    by = {t.name: t for t in cmp.terms}
    assert by["weights"].measured == [weights]
    assert by["runtime"].measured == [context]  # NVML's process figure less what the allocator holds
    assert by["prefill peak"].measured == [prefill["peak_reserved_bytes"] + context]
    assert by["prefill working"].measured == [scratch + kv - kv * 1000 // 1008]
    assert by["prefill peak"].worst is None  # one figure on a GPU, not a range


def test_cuda_meter_without_nvml_reports_the_process_as_unknown() -> None:
    meter = CudaMeter(FakeTorch(), "cuda:0", 0, None)
    assert meter.now()["process_bytes"] is None


def test_on_a_gpu_machine_the_child_is_sent_to_the_plan_gpu() -> None:
    snap = rtx4090()
    spec = resolve("Qwen2.5-0.5B-Instruct")
    request = Request(context=2048, engine="transformers", precision="bf16")
    rec = decide(spec, snap, request)
    choice = choose(rec, request, False, spec, snap)
    plan = choice.plan
    assert (plan.engine, plan.precision, plan.placement, plan.devices) == ("transformers", "bf16", "single-gpu",
                                                                          ["gpu:0"])
    assert choice.why is None
    job = job_for(spec, plan, request, config_for(spec) or {}, 2039, 8, 1)
    assert job["device"] == "cuda:0" and job["dtype"] == "bfloat16" and job["nvml_index"] == 0
    assert job["config"]["model_type"] == "qwen2"
    assert child_env(plan) == {"CUDA_VISIBLE_DEVICES": "0", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert lengths(plan, request, 8) == (2039, 8)
    assert lengths(plan, request.model_copy(update={"prompt": 512}), 8) == (512, 8)


def test_plans_verify_cannot_build_say_why() -> None:
    two = machine([rtx4090().gpus[0], rtx4090().gpus[0].model_copy(update={"index": 1, "uuid": "GPU-test-1"})])
    spec = resolve("Qwen2.5-14B-Instruct")
    rec = decide(spec, two, Request(context=4096, engine="transformers", precision="bf16", placement="layer-split"))
    assert rec.plan is not None and rec.plan.placement == "layer-split"
    assert "one device at a time" in (unmeasurable(rec.plan) or "")
    spec = resolve("Qwen2.5-7B-Instruct")
    rec = decide(spec, rtx4090(), Request(context=4096, engine="transformers", precision="nf4"))
    assert rec.plan is not None and "nf4 weights are not built" in (unmeasurable(rec.plan) or "")


def test_a_recorded_peak_is_the_floor_of_the_estimate() -> None:
    spec = resolve("SmolLM2-135M")
    request = Request(context=2048, engine="transformers", precision="bf16")
    plain = decide(spec, NO_GPU, request).plan
    assert plain is not None and plain.measured_bytes is None
    above = plain.memory.total_bytes + 300 * MIB

    def measured(peak: int, **kw: Any) -> Measured:
        base = {"precision": "bf16", "engine": "transformers", "device": "cpu", "context": 2048, "prompt": 2048,
                "batch": 1, "kv_dtype": "auto", "peak_bytes": peak, "median_bytes": peak - MIB, "runs": 3,
                "measured_at": "2026-12-02T03:00:00+00:00"}
        return Measured(**{**base, **kw})

    raised = decide(spec, NO_GPU, request.model_copy(update={"measured": (measured(above),)})).plan
    assert raised is not None and raised.memory.total_bytes == above and raised.measured_bytes == above
    assert raised.memory.activations_bytes == plain.memory.activations_bytes + 300 * MIB
    assert raised.memory.typical_total_bytes == max(plain.memory.typical_total_bytes or 0, above - MIB)
    assert any("corrected by a measurement here" in n for n in raised.notes)
    # below the estimate: the estimate stands, and the plan says it was confirmed
    below = decide(spec, NO_GPU, request.model_copy(update={"measured": (measured(400 * MIB),)})).plan
    assert below is not None and below.memory.total_bytes == plain.memory.total_bytes
    assert any("within this estimate" in n for n in below.notes)
    # another configuration (another batch, another context) is not corrected by it
    for other in (measured(above, batch=2), measured(above, context=4096), measured(above, device="gpu:0")):
        p = decide(spec, NO_GPU, request.model_copy(update={"measured": (other,)})).plan
        assert p is not None and p.memory.total_bytes == plain.memory.total_bytes and p.measured_bytes is None
    # a measurement above what the machine can give makes the plan not fit
    huge = decide(spec, NO_GPU, request.model_copy(update={"measured": (measured(200 * GIB),)}))
    assert not huge.fits


def test_the_config_of_a_directory_and_of_nothing(tmp_path: Any) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, '
                                          '"num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 1000}')
    spec = resolve(str(tmp_path))
    assert config_for(spec) == {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
                                "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 1000}
    approx = resolve("my-custom-llm-7b")
    assert approx.source == "name-size" and config_for(approx) is None


@pytest.mark.parametrize("name", ["Qwen2.5-7B-Instruct-AWQ", "SmolLM2-135M"])
def test_catalog_configs_are_found_for_quantized_names_too(name: str) -> None:
    cfg = config_for(resolve(name))
    assert cfg is not None and cfg["model_type"] in ("qwen2", "llama")


def test_the_fleet_matrix_shows_a_host_measured_cell_apart(tmp_path: Any) -> None:
    from advisor.commands.report import ModelColumn
    from advisor.requests import build_request
    from advisor.verify.records import fingerprint, lookup, record

    db = tmp_path / "inventory.db"
    here = NO_GPU
    other = NO_GPU.model_copy(update={"host": NO_GPU.host.model_copy(update={"hostname": "elsewhere"})})
    asked = build_request(context=2048, engine="transformers", precision="bf16")
    column = ModelColumn("SmolLM2-135M", asked, db)
    plain = column.decide(here)
    assert plain.fits and plain.measured_bytes is None and "(measured)" not in plain.text()
    peak = (plain.memory_bytes or 0) + 100 * MIB
    m = Measured(precision="bf16", engine="transformers", device="cpu", context=2048, prompt=2048, batch=1,
                 kv_dtype="auto", peak_bytes=peak, median_bytes=peak, runs=2, measured_at="2026-12-02T03:00:00+00:00")
    record(db, here, "SmolLM2-135M-Instruct", m, {"held": False})
    assert fingerprint(here, "cpu") != fingerprint(other, "cpu")
    assert [x.peak_bytes for x in lookup(db, here, "SmolLM2-135M-Instruct")] == [peak]
    assert lookup(db, other, "SmolLM2-135M-Instruct") == ()
    column = ModelColumn("SmolLM2-135M", asked, db)
    measured = column.decide(here)
    assert measured.measured_bytes == peak and measured.memory_bytes == peak and measured.text().endswith("(measured)")
    elsewhere = column.decide(other)  # a host with the same hardware but its own (no) measurements
    assert elsewhere.measured_bytes is None and elsewhere.memory_bytes == plain.memory_bytes


@pytest.mark.parametrize(("name", "mix"), [("SmolLM2-135M", "Q4_K_M"), ("Qwen2.5-0.5B-Instruct", "Q8_0"),
                                           ("Qwen3-0.6B", "Q4_K_M"), ("SmolLM2-135M", "BF16")])
def test_the_synthetic_gguf_reads_back_as_the_model_at_the_plan_types(name: str, mix: str, tmp_path: Any) -> None:
    """What verify hands llama.cpp: read back by advisor's own GGUF reader (the real gguf package underneath), it
    is the catalog model, parameter for parameter, at the tensor types the plan's mix gives; zeros on disk as
    holes."""
    from advisor.models import catalog
    from advisor.verify.gguf_synth import tensor_nbytes, tensors, write
    from rules.memory import weight_split

    entry = catalog.find(name)
    assert entry is not None
    path = tmp_path / "model.gguf"
    data = write(path, entry["config"], mix)
    read = resolve(str(path))
    spec = resolve(name)
    assert read.params_total == spec.params_total and read.layers == spec.layers
    assert (read.kv_heads, read.head_dim, read.hidden_size) == (spec.kv_heads, spec.head_dim, spec.hidden_size)
    assert read.weight_bytes == data
    # the rules' estimate of the same mix: biases and norms aside, byte for byte
    assert abs(weight_split(spec, BY_NAME[mix]).total - data) <= 0.0002 * data
    _arch, _meta, items = tensors(entry["config"], mix)
    by_type: dict[str, int] = {}
    for _n, shape, type_name in items:  # each type's bytes by its ggml block size, as the reader found them
        by_type[type_name] = by_type.get(type_name, 0) + tensor_nbytes(shape, type_name)
    assert read.bytes_by_dtype == by_type
    assert os.stat(path).st_blocks * 512 < 4 * MIB  # the tensor data are holes: the file takes no disk
