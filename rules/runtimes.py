"""The runtimes of vision models: where each runs, in which precisions, and what it holds beyond the model.

A runtime is one `Runtime` row here, registered in RUNTIMES; its settings to paste are in advisor/launch/vision.py
under the same name. The token-LLM engines are rules/engines/. Facts are cited beside each row; the memory rules
(working memory over the traced live activations, the process and CUDA overheads) are calibrated on
benchmarks/data/cpu-vision.json for PyTorch on the CPU and carried over, labelled estimated, elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024**2

# Target kinds a runtime may run on: a GPU (NVIDIA, AMD, Apple), the CPU, or a named accelerator kind of
# probes/schema.py's OtherAccelerator (plus "hailo").
GPU, CPU = "gpu", "cpu"

# CPU plans are a range, as for token LLMs (issue 18's decision): *typical* (the median run) and *worst* (typical +
# an allowance for the holes glibc leaves in the heap, covering every run). All from benchmarks/data/cpu-vision.json,
# calibration half, by benchmarks/calibration_vision.py (the tests recompute them):
# - the working memory of PyTorch eager during one forward (peak RSS minus RSS after building), typical: this
#   multiple of the traced live activations plus a constant (oneDNN's reorders and scratch, the allocator);
CPU_ACTIVATION_FACTOR = 1.15
CPU_ACTIVATION_BASE = 33 * MIB
# - the holes allowance on top, for the worst run;
CPU_HOLES_FACTOR = 0.30
CPU_HOLES_BASE = 116 * MIB
# - the host process before any image: Python + torch + the model's library imported and the model built, minus
#   the weights (typical: the median run; worst: the largest). torch's CUDA wheel, which most installs have (the
#   CPU wheel's is smaller); other runtimes' processes are smaller (not measured here): the figure is kept for them.
CPU_PROCESS_TYPICAL = {"torchvision": 697 * MIB, "ultralytics": 611 * MIB}
CPU_PROCESS = {"torchvision": 712 * MIB, "ultralytics": 629 * MIB}
# A CUDA process's context and cuDNN/cuBLAS handles, per GPU (as rules/engines/transformers.py's torch figure),
# and cuDNN's convolution workspace allowance: workspaces are chosen per layer, bounded by what is free; we keep
# the live activations x this factor (estimated, not measured here: no GPU measurement of vision models yet).
CUDA_CONTEXT = 512 * MIB
GPU_ACTIVATION_FACTOR = 1.5


@dataclass(frozen=True)
class Runtime:
    name: str
    label: str
    rank: int  # among equal plans: smaller first
    targets: tuple[str, ...]  # gpu, cpu, edge-tpu, intel-npu, apple-neural-engine, hailo
    precisions: dict[str, tuple[str, ...]]  # target -> precisions it runs there
    libraries: tuple[str, ...] = ("torchvision", "ultralytics")  # the model definitions it takes (by export)
    nvidia_only: bool = False
    export: str | None = None  # what the user runs first to get the runtime's model file
    note: str | None = None
    auto: bool = True  # chosen by --engine auto (the others: asked for by name, or through --device)
    half_needs_cuda: bool = False  # fp16 only on CUDA GPUs (elsewhere it silently runs fp32)

    def runs_on(self, target: str) -> bool:
        return target in self.targets

    def precisions_on(self, target: str) -> tuple[str, ...]:
        return self.precisions.get(target, ())


RUNTIMES: dict[str, Runtime] = {r.name: r for r in (
    # PyTorch eager: fp16/bf16 on CUDA GPUs (bf16 needs compute capability >= 8.0), fp16 on Apple MPS, fp32 and
    # bf16 (with AVX512-BF16 / AMX) on the CPU. torch + torchvision CPU import ~ 700 MiB RSS with the CUDA wheel
    # (measured: benchmarks/data/cpu-vision.json rss_after_imports).
    Runtime("pytorch", "PyTorch", 1, (GPU, CPU),
            {GPU: ("fp16", "bf16", "fp32"), CPU: ("fp32", "bf16")}, libraries=("torchvision",)),
    # ultralytics predict(): PyTorch underneath, Conv+BN fused; half=True on CUDA only (docs.ultralytics.com/modes/
    # predict: "half: Enables half-precision (FP16) inference ... on supported GPUs").
    Runtime("ultralytics", "Ultralytics", 0, (GPU, CPU), {GPU: ("fp16", "fp32"), CPU: ("fp32",)},
            libraries=("ultralytics",), half_needs_cuda=True),
    # ONNX Runtime: CPU EP (fp32; int8 after static QDQ quantization, onnxruntime.ai/docs/performance/
    # model-optimizations/quantization.html) and CUDA EP (fp32, fp16 models). Not calibrated here.
    Runtime("onnxruntime", "ONNX Runtime", 2, (GPU, CPU), {GPU: ("fp16", "fp32"), CPU: ("fp32", "int8")},
            nvidia_only=True, export="torch.onnx.export / yolo export format=onnx",
            auto=False),
    # TensorRT: NVIDIA GPUs and Jetson; fp32, fp16, int8 with calibration data (docs.nvidia.com/deeplearning/
    # tensorrt: "Working with Quantized Types"; trtexec --fp16 / --int8).
    Runtime("tensorrt", "TensorRT", 3, (GPU,), {GPU: ("fp16", "int8", "fp32")}, nvidia_only=True,
            export="trtexec --onnx=model.onnx --saveEngine=model.engine", auto=False),
    # OpenVINO: Intel CPUs (fp32, int8 via NNCF), the Intel NPU (fp16, int8; docs.openvino.ai "NPU Device").
    Runtime("openvino", "OpenVINO", 4, (CPU, "intel-npu"), {CPU: ("fp32", "int8"), "intel-npu": ("fp16", "int8")},
            export="ov.convert_model / yolo export format=openvino",
            auto=False),
    # LiteRT (TensorFlow Lite): CPU (fp32, int8; a float16-quantized model is dequantized to float32 on the CPU,
    # ai.google.dev/edge/litert/models/post_training_float16_quant, so it saves no memory there) and the Coral
    # Edge TPU, which runs only full-integer int8
    # models compiled by edgetpu_compiler (coral.ai/docs/edgetpu/models-intro).
    Runtime("litert", "LiteRT (TFLite)", 5, (CPU, "edge-tpu"), {CPU: ("fp32", "int8"), "edge-tpu": ("int8",)},
            export="yolo export format=tflite int8=True / ai-edge-torch",
            auto=False),
    # Core ML on Apple silicon: the Neural Engine runs fp16 (and int8 weights) (apple.github.io/coremltools).
    Runtime("coreml", "Core ML", 6, ("apple-neural-engine",), {"apple-neural-engine": ("fp16", "int8")},
            export="coremltools.convert / yolo export format=coreml", auto=False),
    # HailoRT: Hailo-8 / 8L run int8 models compiled to HEF by the Dataflow Compiler (hailo.ai developer zone).
    Runtime("hailort", "HailoRT", 7, ("hailo",), {"hailo": ("int8",)},
            export="hailo parser onnx / hailo optimize / hailo compiler (Dataflow Compiler)", auto=False),
    # Qualcomm AI Engine Direct (QNN) on the Hexagon NPU: int8 (uint8 QDQ) and fp16 (onnxruntime.ai/docs/
    # execution-providers/QNN-ExecutionProvider.html), through ONNX Runtime's QNN EP or LiteRT's Qualcomm delegate.
    Runtime("qnn", "Qualcomm QNN", 8, ("qualcomm-npu",), {"qualcomm-npu": ("int8", "fp16")},
            export="yolo export format=onnx / torch.onnx.export, then QDQ int8 quantization", auto=False),
)}
@dataclass(frozen=True)
class KindRuntime:
    """A runtime of a one-device workload (speech, embedding: rules/workloads/onedevice.py)."""

    name: str
    label: str
    rank: int
    precisions: dict[str, tuple[str, ...]]  # target -> precisions
    nvidia_only: bool = True  # its GPU path is CUDA
    torch: bool = False  # a torch runtime: the plan names its torch dtype
    process_bytes: tuple[int, int] | None = None  # (typical, worst) host process when not the workload's torch one


# transformers' pipeline / generate: fp16 or bf16 on GPUs, fp32 on CPUs. faster-whisper (CTranslate2): float16,
# int8_float16 on CUDA GPUs; int8 and float32 on CPUs (github.com/SYSTRAN/faster-whisper, "compute_type").
SPEECH_RUNTIMES: dict[str, KindRuntime] = {r.name: r for r in (
    KindRuntime("transformers", "transformers", 0, {GPU: ("fp16", "bf16", "fp32"), CPU: ("fp32",)}, False, True),
    # CTranslate2 without torch: its process is estimated (300 MiB), not measured here
    KindRuntime("faster-whisper", "faster-whisper (CTranslate2)", 1, {GPU: ("fp16", "int8"), CPU: ("int8", "fp32")},
                process_bytes=(300 * MIB, 300 * MIB)),
)}
SPEECH_ALIASES = {"ctranslate2": "faster-whisper", "ct2": "faster-whisper", "fasterwhisper": "faster-whisper"}
# sentence-transformers (on transformers): fp16 / bf16 on GPUs (model_kwargs={"torch_dtype": ...}), fp32 on CPUs;
# it runs on Apple GPUs too (device="mps").
EMBEDDING_RUNTIMES: dict[str, KindRuntime] = {r.name: r for r in (
    KindRuntime("sentence-transformers", "sentence-transformers", 0, {GPU: ("fp16", "bf16", "fp32"), CPU: ("fp32",)},
                False, True),
)}

NAMES = tuple(RUNTIMES)
ALIASES = {"torch": "pytorch", "onnx": "onnxruntime", "ort": "onnxruntime", "trt": "tensorrt", "tflite": "litert",
           "tensorflow-lite": "litert", "edgetpu": "litert", "ov": "openvino", "hailo": "hailort", "yolo": "ultralytics"}


def canonical(name: str) -> str:
    key = name.strip().lower()
    return ALIASES.get(key, key)
