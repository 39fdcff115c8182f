"""Settings to paste for vision plans, one function per runtime of rules/runtimes.py (same names).

Each names the model's own loader (ultralytics' YOLO(...) with its weights file, torchvision's builder) and the
plan's image size, batch, precision and device; runtimes that need an exported model say how to export it first.
"""

from __future__ import annotations

from typing import Any

from advisor.launch.common import Context
from rules.plan import Plan
from rules.spec import ModelSpec

TORCH_DTYPES = {"fp16": "torch.float16", "bf16": "torch.bfloat16", "fp32": "torch.float32"}


def _builder(spec: ModelSpec) -> str:
    return spec.vision.builder if spec.vision else spec.name


def _size(plan: Plan) -> tuple[int, int]:
    return plan.image_size or (224, 224)


def _imgsz(plan: Plan) -> str:
    h, w = _size(plan)
    return str(h) if h == w else f"({h}, {w})"


def _torch_device(plan: Plan) -> str:
    if plan.placement != "single-gpu":
        return "cpu"
    if plan.cuda_visible_devices or any(d.startswith("gpu:rocm") for d in plan.devices):
        return "cuda"  # NVIDIA, or AMD through ROCm's PyTorch (which names its GPUs cuda)
    return "mps"  # an Apple GPU


def ultralytics(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    device = {"cuda": "0", "mps": "'mps'", "cpu": "'cpu'"}[_torch_device(plan)]  # CUDA_VISIBLE_DEVICES selects it
    half = ", half=True" if plan.precision == "fp16" else ""
    python = (f"from ultralytics import YOLO\n"
              f"model = YOLO({_builder(spec)!r})\n"
              f"results = model.predict(source, imgsz={_imgsz(plan)}, batch={plan.batch}{half}, device={device})")
    return {"engine": "ultralytics", "python": python, "env": ctx.env}


def pytorch(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    h, w = _size(plan)
    dtype = TORCH_DTYPES.get(plan.precision, "torch.float32")
    python = (f"import torch, torchvision\n"
              f"model = torchvision.models.get_model({_builder(spec)!r}, weights=\"DEFAULT\").eval()"
              f".to({_torch_device(plan)!r}, {dtype})\n"
              f"batch = torch.zeros({plan.batch}, 3, {h}, {w}, dtype={dtype}, device={_torch_device(plan)!r})"
              f"  # your images, preprocessed\n"
              f"with torch.inference_mode():\n    out = model(batch)")
    return {"engine": "pytorch", "python": python, "env": ctx.env}


def _export(plan: Plan, spec: ModelSpec, fmt: str, extra: str = "") -> str:
    h, w = _size(plan)
    if spec.vision and spec.vision.library == "ultralytics":
        return f"yolo export model={_builder(spec)} format={fmt} imgsz={h},{w} batch={plan.batch}{extra}"
    return (f"python -c \"import torch, torchvision; m = torchvision.models.get_model('{_builder(spec)}', "
            f"weights='DEFAULT').eval(); torch.onnx.export(m, torch.zeros({plan.batch}, 3, {h}, {w}), "
            f"'{_builder(spec)}.onnx')\"")


def onnxruntime(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    provider = "CUDAExecutionProvider" if plan.placement == "single-gpu" else "CPUExecutionProvider"
    half = " half=True" if plan.precision == "fp16" else (" int8=True" if plan.precision == "int8" else "")
    python = (f"import onnxruntime as ort\n"
              f"session = ort.InferenceSession({_builder(spec).rsplit('.pt', 1)[0] + '.onnx'!r}, "
              f"providers=[{provider!r}])\n"
              f"out = session.run(None, {{session.get_inputs()[0].name: batch}})  # batch: float array "
              f"{plan.batch}x3x{_size(plan)[0]}x{_size(plan)[1]}")
    return {"engine": "onnxruntime", "command": _export(plan, spec, "onnx", half), "python": python, "env": ctx.env}


def tensorrt(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    h, w = _size(plan)
    onnx = _builder(spec).rsplit(".pt", 1)[0] + ".onnx"
    flag = {"fp16": " --fp16", "int8": " --int8 --calib=calibration.cache"}.get(plan.precision, "")
    command = f"trtexec --onnx={onnx} --saveEngine={onnx[:-5]}.engine{flag} --shapes=images:{plan.batch}x3x{h}x{w}"
    return {"engine": "tensorrt", "command": command, "env": ctx.env,
            "note": f"first export {onnx}: {_export(plan, spec, 'onnx')}"}


def openvino(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    device = "NPU" if plan.devices and plan.devices[0] == "intel-npu" else "CPU"
    name = _builder(spec).rsplit(".pt", 1)[0]
    int8 = " int8=True" if plan.precision == "int8" else ""
    python = (f"import openvino as ov\n"
              f"compiled = ov.Core().compile_model({name + '_openvino_model/' + name + '.xml'!r}, {device!r})\n"
              f"out = compiled(batch)")
    return {"engine": "openvino", "command": _export(plan, spec, "openvino", int8), "python": python, "env": ctx.env}


def litert(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    name = _builder(spec).rsplit(".pt", 1)[0]
    if plan.devices and plan.devices[0] == "edge-tpu":
        if spec.vision and spec.vision.library == "ultralytics":
            command = f"{_export(plan, spec, 'edgetpu')}  # full-integer int8 TFLite, compiled by edgetpu_compiler"
        else:
            name = _builder(spec)
            command = f"edgetpu_compiler {name}_int8.tflite  # -> {name}_int8_edgetpu.tflite"
        edgetpu_file = (name + "_full_integer_quant_edgetpu.tflite" if spec.vision and spec.vision.library ==
                        "ultralytics" else name + "_int8_edgetpu.tflite")
        python = (f"from pycoral.utils.edgetpu import make_interpreter\n"
                  f"interpreter = make_interpreter({edgetpu_file!r})\n"
                  f"interpreter.allocate_tensors()  # then per image: set the input, interpreter.invoke()")
        note = None if spec.vision and spec.vision.library == "ultralytics" else (
            f"{name}_int8.tflite: convert with ai-edge-torch and quantize to full-integer int8 with calibration "
            "images (its PT2E quantizer); the Edge TPU takes nothing else")
        return {"engine": "litert", "command": command, "python": python, "env": ctx.env,
                **({"note": note} if note else {})}
    else:
        int8 = " int8=True" if plan.precision == "int8" else (" half=True" if plan.precision == "fp16" else "")
        command = _export(plan, spec, "tflite", int8)
        python = ("from ai_edge_litert.interpreter import Interpreter\n"
                  f"interpreter = Interpreter(model_path={name + '.tflite'!r})\ninterpreter.allocate_tensors()")
    return {"engine": "litert", "command": command, "python": python, "env": ctx.env}


def coreml(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    int8 = " int8=True" if plan.precision == "int8" else " half=True"
    python = ("import coremltools as ct\n"
              f"model = ct.models.MLModel({_builder(spec).rsplit('.pt', 1)[0] + '.mlpackage'!r}, "
              "compute_units=ct.ComputeUnit.ALL)  # ALL lets Core ML use the Neural Engine")
    return {"engine": "coreml", "command": _export(plan, spec, "coreml", int8), "python": python, "env": ctx.env}


def hailort(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    name = _builder(spec).rsplit(".pt", 1)[0]
    command = (f"hailomz compile {name} --hw-arch hailo8  # or: hailo parser onnx {name}.onnx; hailo optimize; "
               "hailo compiler (Dataflow Compiler) -> .hef")
    python = (f"from hailo_platform import HEF, VDevice\nhef = HEF({name + '.hef'!r})\n"
              "with VDevice() as target:\n    network_group = target.configure(hef)[0]")
    return {"engine": "hailort", "command": command, "python": python, "env": ctx.env}


def qnn(plan: Plan, spec: ModelSpec, ctx: Context) -> dict[str, Any]:
    name = _builder(spec).rsplit(".pt", 1)[0]
    python = ("import onnxruntime as ort  # pip install onnxruntime-qnn\n"
              f"session = ort.InferenceSession({name + ('.qdq.onnx' if plan.precision == 'int8' else '.onnx')!r}, "
              "providers=['QNNExecutionProvider'], "
              "provider_options=[{'backend_path': 'QnnHtp.dll'}])  # libQnnHtp.so on Android / Linux")
    return {"engine": "qnn", "command": _export(plan, spec, "onnx"), "python": python, "env": ctx.env,
            "note": f"quantize {name}.onnx to QDQ int8 with calibration images (onnxruntime.quantization) for the "
                    "Hexagon NPU" if plan.precision == "int8" else None}


LAUNCHERS = {"ultralytics": ultralytics, "pytorch": pytorch, "onnxruntime": onnxruntime, "tensorrt": tensorrt,
             "openvino": openvino, "litert": litert, "coreml": coreml, "hailort": hailort, "qnn": qnn}
