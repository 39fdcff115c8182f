"""The vision workload: image size and batch, traced working memory held to hand counts, runtimes and devices
gated, the CPU range held to measurements, settings to paste, and the options that do not apply refused."""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor.cli import app
from advisor.models import catalog
from probes.accelerators import probe_accelerators
from probes.schema import AcceleratorsSection, OtherAccelerator
from rules import edge_devices, runtimes
from rules.plan import Request
from rules.workloads import decide
from rules.workloads.vision import per_image_elements
from tests.cli_refusals import assert_refused
from tests.snapshots import NO_GPU, gpu, machine

REPO = Path(__file__).resolve().parents[1]
GIB = 1024**3
MIB = 1024**2
runner = CliRunner()


def vision(name: str, snapshot=NO_GPU, **request):
    return decide(catalog.spec_for(name), snapshot, Request(**request))


# --- working memory from the model's own definition, against hand counts ------------------------------------

def test_resnet_traces_match_hand_counted_live_tensors():
    # torchvision ResNet-50 at 224x224, batch 1 (fp32 elements). The peak is in layer1's first bottleneck while
    # its downsample branch runs: the image (3x224x224) + the block input (64x56x56) + bn3's output (256x56x56) +
    # the downsample conv's and its BatchNorm's outputs (256x56x56 each) are alive at once.
    r50 = 3 * 224 * 224 + 64 * 56 * 56 + 3 * 256 * 56 * 56
    assert r50 == 2_759_680
    # ResNet-18's peak is the stem: the image + conv1's output + bn1's output (64x112x112 each)
    r18 = 3 * 224 * 224 + 2 * 64 * 112 * 112
    for name, hand in (("ResNet-50", r50), ("resnet18", r18)):
        shape = catalog.spec_for(name).vision
        assert shape is not None
        assert per_image_elements(shape, 224, 224) == pytest.approx(hand, rel=1e-9)


def test_every_traceable_vision_model_has_a_profile_that_covers_its_traced_points():
    with_profile = 0
    for entry in catalog.entries():
        profile = entry.get("activation_profile")
        if entry.get("modality") != "vision" or not profile:
            continue
        with_profile += 1
        shape = catalog.spec_for(entry["name"]).vision
        assert shape is not None
        for point in profile["traced"]:
            s = point["image_size"]
            assert per_image_elements(shape, s, s) >= point["elements"] * (1 - 1e-9), entry["name"]
        # batch 2 holds at most twice batch 1's tensors, so batch x the per-image profile never falls short
        # (detectors that resize inside hold less: their fixed-size parts do not double)
        b2 = profile["batch2_elements"]
        one = next(p["elements"] for p in profile["traced"] if p["image_size"] == b2["image_size"])
        assert one <= b2["elements"] <= 2 * one * (1 + 1e-3), entry["name"]
    assert with_profile >= 110  # torchvision's and ultralytics' catalog models


def test_memory_grows_with_batch_and_image_size_as_traced():
    def acts(batch: int, size: int) -> int:
        rec = vision("YOLOv8x", machine([gpu(0, "NVIDIA A100 80GB", 80, "8.0")]), batch=batch,
                     image_size=(size, size), precision="fp16", engine="ultralytics")
        assert rec.plan is not None
        return rec.plan.memory.activations_bytes

    # the traced YOLOv8x profile is linear in pixels (83 elements per pixel, fp16: 2 bytes) and in the batch
    assert acts(16, 640) == pytest.approx(16 * acts(1, 640), rel=1e-6)
    assert acts(1, 1280) == pytest.approx(4 * acts(1, 640), rel=1e-6)
    assert acts(1, 640) == pytest.approx(640 * 640 * 83 * 2 * runtimes.GPU_ACTIVATION_FACTOR, rel=1e-6)


def test_ultralytics_rounds_the_image_size_up_to_the_stride():
    rec = vision("YOLOv8n", image_size=(600, 1000))
    assert rec.plan is not None and rec.plan.image_size == (608, 1024)  # multiples of 32, as check_imgsz
    torchvision = vision("ResNet-50", image_size=(300, 300))
    assert torchvision.plan is not None and torchvision.plan.image_size == (300, 300)


# --- the CPU range, held to measurements -------------------------------------------------------------------

def test_cpu_constants_are_the_calibration_of_the_measured_half():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from calibration_vision import calibrate

    doc = json.loads((REPO / "benchmarks" / "data" / "cpu-vision.json").read_text())
    fitted = calibrate(doc)
    assert pytest.approx(fitted["factor"], abs=0.01) == runtimes.CPU_ACTIVATION_FACTOR
    assert pytest.approx(fitted["base"], abs=MIB) == runtimes.CPU_ACTIVATION_BASE
    assert pytest.approx(fitted["holes_factor"], abs=0.01) == runtimes.CPU_HOLES_FACTOR
    assert fitted["holes_base"] <= runtimes.CPU_HOLES_BASE and runtimes.CPU_HOLES_BASE - fitted["holes_base"] < MIB
    for lib, value in fitted["process_worst"].items():
        assert runtimes.CPU_PROCESS[lib] >= value and runtimes.CPU_PROCESS[lib] - value < MIB
        assert runtimes.CPU_PROCESS_TYPICAL[lib] == pytest.approx(fitted["process_typical"][lib], abs=MIB)


def test_held_out_cpu_rows_worst_never_below_typical_within_ten_percent():
    sys.path.insert(0, str(REPO / "benchmarks"))
    from calibration_vision import estimate

    doc = json.loads((REPO / "benchmarks" / "data" / "cpu-vision.json").read_text())
    held = [r for r in doc["rows"] if r["model"] not in doc["calibration_models"]]
    assert len(held) >= 20 and {r["library"] for r in held} == {"torchvision", "ultralytics"}
    for row in doc["rows"]:  # calibration rows too: the worst covers every run it was fitted on
        mem = estimate(row)
        assert mem.total_bytes >= max(row["peak_rss_inference_runs_bytes"]), row
    for row in held:
        mem = estimate(row)
        assert mem.typical_total_bytes is not None
        median = statistics.median(row["peak_rss_inference_runs_bytes"])
        assert abs(mem.typical_total_bytes / median - 1) <= 0.10, row


# --- devices and runtimes ------------------------------------------------------------------------------------

def coral(snapshot=NO_GPU):
    acc = AcceleratorsSection(status="ok", devices=[OtherAccelerator(kind="edge-tpu", name="Coral Edge TPU (USB)")])
    return snapshot.model_copy(update={"accelerators": acc})


def test_edge_tpu_runs_full_integer_int8_cnns_one_image_at_a_time():
    rec = vision("ResNet-50", coral(), batch=256)
    plans = [rec.plan, *rec.alternatives]
    edge = [p for p in plans if p and p.devices == ["edge-tpu"]]
    assert edge and all(p.precision == "int8" and p.engine == "litert" for p in edge)
    plan = edge[0]
    assert plan.max_batch == 1
    # 25,557,032 int8 weights are 24.4 MiB, beyond the ~8 MiB the Edge TPU caches on chip: said, not hidden
    assert any("exceed the Edge TPU's ~8 MiB" in n for n in plan.notes)
    # the host holds one image's tensors, not 256 images' (plus the batch's int8 inputs, 256 x 3 x 224 x 224 bytes)
    cpu_plan = next(p for p in plans if p and p.devices == ["cpu"])
    assert 256 * 3 * 224 * 224 < plan.memory.activations_bytes < cpu_plan.memory.activations_bytes / 20


def test_edge_tpu_refuses_transformers_and_float_precisions():
    rec = vision("vit_b_16", coral())
    assert all(p.devices != ["edge-tpu"] for p in [rec.plan, *rec.alternatives] if p)
    assert any("does not map ViT's attention" in r.reason for r in rec.rejected)
    asked_fp16 = vision("ResNet-50", coral(), precision="fp16", engine="litert")
    assert all(p.devices != ["edge-tpu"] for p in [asked_fp16.plan, *asked_fp16.alternatives] if p)
    assert any("runs int8, not fp16" in r.reason for r in asked_fp16.rejected)


def test_gpu_gates_bf16_by_compute_capability_and_tensorrt_to_nvidia():
    t4 = vision("ResNet-50", machine([gpu(0, "Tesla T4", 15, "7.5")]), precision="bf16", engine="pytorch")
    assert not [p for p in [t4.plan, *t4.alternatives] if p and p.devices == ["gpu:0"]]
    assert any("bf16 needs compute capability" in r.reason for r in t4.rejected)
    apple = vision("ResNet-50", machine([gpu(0, "Apple M2 Max 96GB", 72, None)]), engine="tensorrt")
    assert apple.plan is None and any("needs an NVIDIA GPU" in r.reason for r in apple.rejected)
    a100 = vision("ResNet-50", machine([gpu(0, "NVIDIA A100 80GB", 80, "8.0")]))
    assert a100.plan is not None and (a100.plan.precision, a100.plan.engine) == ("fp16", "pytorch")


def test_no_fit_says_which_batch_and_image_size_would():
    small = machine([gpu(0, "GeForce RTX 3060", 12, "8.6", 11.6)], ram_gib=4, ram_free_gib=2)
    rec = vision("YOLOv8x", small, batch=256, image_size=(1280, 1280))
    assert not rec.fits and rec.plan is None
    kinds = {c.kind for c in rec.changes}
    assert {"batch", "image-size"} <= kinds
    batch_change = next(c for c in rec.changes if c.kind == "batch")
    n = int(re.search(r"--batch (\d+)", batch_change.description).group(1))
    again = vision("YOLOv8x", small, batch=n, image_size=(1280, 1280))
    assert again.fits
    assert not vision("YOLOv8x", small, batch=n + 1, image_size=(1280, 1280), precision=again.plan.precision,
                      engine=again.plan.engine).fits or n + 1 > again.plan.max_batch


def test_device_table_targets_are_planned_for_and_boards_replace_the_machine():
    from advisor.requests import hardware
    from rules.gpu_table import find_gpu

    for entry in edge_devices.table():
        assert entry["sources"], entry["name"]
        if entry.get("gpu"):
            assert find_gpu(entry["gpu"]) is not None, entry["name"]
        if entry.get("accelerator"):
            assert any(r.runs_on(entry["accelerator"]) for r in runtimes.RUNTIMES.values()), entry["name"]
    pi = hardware(base=NO_GPU, device="Raspberry Pi 5 4GB")
    assert pi.memory.total_bytes == 4 * GIB and pi.cpu.architecture == "aarch64" and not pi.gpus
    hailo = hardware(base=NO_GPU, device="Hailo-8")
    assert [a.kind for a in hailo.accelerators.devices] == ["hailo"]
    rec = decide(catalog.spec_for("YOLOv8n"), hailo, Request())
    assert any(p.engine == "hailort" and p.precision == "int8" for p in [rec.plan, *rec.alternatives] if p)


def test_probe_sees_hailo_and_a_coral_usb_stick(tmp_path):
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "hailo0").touch()
    for node, ids in (("1-1", ("18d1", "9302")), ("1-2", ("046d", "c52b"))):
        d = tmp_path / "sys" / "bus" / "usb" / "devices" / node
        d.mkdir(parents=True)
        (d / "idVendor").write_text(ids[0] + "\n")
        (d / "idProduct").write_text(ids[1] + "\n")
    found = probe_accelerators(root=tmp_path, environ={}, system="Linux", machine="x86_64").devices
    assert [(a.kind, a.name) for a in found] == [("hailo", "Hailo (PCIe)"), ("edge-tpu", "Coral Edge TPU (USB)")]


# --- the command line ----------------------------------------------------------------------------------------

@pytest.fixture
def gpu_file(tmp_path):
    path = tmp_path / "3060.json"
    path.write_text(machine([gpu(0, "NVIDIA GeForce RTX 3060", 12, "8.6", 11.6)], ram_gib=32).to_json())
    return str(path)


def test_fit_prints_image_units_and_the_ultralytics_loader(gpu_file):
    result = runner.invoke(app, ["fit", "YOLOv8x", "--image-size", "1280", "--batch", "16", "--hardware", gpu_file])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "image 1280x1280, batch 16" in out and "context" not in out.split("Settings")[0].lower()
    assert "fp16 with ultralytics" in out and "largest batch" in out
    assert "model.predict(source, imgsz=1280, batch=16, half=True, device=0)" in out
    assert "YOLO('yolov8x.pt')" in out


def test_json_and_env_carry_the_image_size_and_largest_batch(gpu_file):
    doc = json.loads(runner.invoke(app, ["fit", "ResNet-50", "--batch", "64", "--hardware", gpu_file, "--json"]).stdout)
    plan = doc["plan"]
    assert plan["workload"] == "vision" and plan["context"] is None and plan["image_size"] == [224, 224]
    assert plan["memory"]["kv_cache_bytes"] == 0 and plan["max_batch"] >= 64
    assert "get_model('resnet50'" in doc["settings"]["python"]
    env = runner.invoke(app, ["check", "ResNet-50", "--image-size", "320x240", "--hardware", gpu_file, "--format", "env"])
    assert env.exit_code == 0
    assert "ADVISOR_IMAGE_SIZE=320x240" in env.stdout and re.search(r"ADVISOR_MAX_BATCH=\d+", env.stdout)
    assert "ADVISOR_KV_CACHE_DTYPE=''" in env.stdout


def test_tensorrt_settings_name_the_precision_and_shapes(gpu_file):
    result = runner.invoke(app, ["fit", "yolo11s", "--engine", "tensorrt", "--precision", "int8", "--batch", "8",
                                 "--hardware", gpu_file, "--json"])
    doc = json.loads(result.stdout)
    assert doc["plan"]["engine"] == "tensorrt" and doc["plan"]["precision"] == "int8"
    assert "--int8" in doc["settings"]["command"] and "--shapes=images:8x3x640x640" in doc["settings"]["command"]


@pytest.mark.parametrize("args,needle", [
    (["YOLOv8n", "--context", "4096"], "--context / --prompt are token counts"),
    (["llama3.1:8b", "--image-size", "640"], "--image-size applies to vision models"),
    (["YOLOv8n", "--engine", "vllm"], "--engine vllm does not run vision models"),
    (["vit_b_16", "--image-size", "384"], "takes 224x224 only"),
    (["YOLOv8n", "--image-size", "640x"], "not an image size"),
    (["YOLOv8n", "--precision", "Q4_K_M"], "not a vision precision"),
    (["YOLOv8n", "--device", "Coral Edge"], "closest: Coral"),
])
def test_options_that_do_not_apply_are_one_line_and_exit_2(args, needle, tmp_path):
    assert_refused(args, needle, tmp_path)


def test_cpu_runtimes_price_what_they_hold():
    # LiteRT dequantizes a float16 model to float32 on the CPU, so fp16 is no plan there; int8 on CPU runtimes keeps
    # float tensors between quantized operators, so its working memory is priced as fp32
    rec = vision("YOLOv8n", batch=8)
    plans = [p for p in [rec.plan, *rec.alternatives] if p]
    assert not [p for p in plans if p.devices == ["cpu"] and p.precision == "fp16"]
    asked = vision("YOLOv8n", batch=8, precision="int8", engine="onnxruntime")
    fp32 = vision("YOLOv8n", batch=8, precision="fp32", engine="onnxruntime")
    assert asked.plan is not None and fp32.plan is not None
    assert asked.plan.memory.activations_bytes == fp32.plan.memory.activations_bytes
    assert asked.plan.memory.weights_bytes * 4 == fp32.plan.memory.weights_bytes


def test_python_api_and_fleet_report_plan_vision_models(gpu_file):
    from advisor import api

    result = api.recommend("yolo11n", hardware=gpu_file, image_size="1280x720", batch=4)
    assert result.plan is not None and result.plan.image_size == (736, 1280)  # 720 rounds up to 736
    report = runner.invoke(app, ["report", gpu_file, "-m", "YOLOv8x", "--image-size", "1280", "--batch", "16",
                                 "--format", "json"])
    cell = json.loads(report.stdout)["hosts"][0]["cells"]["YOLOv8x"]
    assert cell["fits"] and (cell["precision"], cell["engine"], cell["placement"]) == ("fp16", "ultralytics",
                                                                                      "single-gpu")


def test_apple_gpus_run_ultralytics_in_fp32_on_mps():
    from advisor.launch import settings_for

    apple = machine([gpu(0, "Apple M2 Max 96GB", 72, None)])
    rec = vision("YOLOv8n", apple)
    assert rec.plan is not None and rec.plan.devices == ["gpu:0"]
    assert (rec.plan.precision, rec.plan.engine) == ("fp32", "ultralytics")  # half=True is CUDA-only
    assert any("half=True needs a CUDA GPU" in r.reason for r in rec.rejected)
    assert "device='mps'" in settings_for(rec.plan, catalog.spec_for("YOLOv8n"))["python"]
