"""Settings to paste for the chosen engine: transformers, vLLM, llama.cpp, Ollama, TensorRT-LLM."""

from __future__ import annotations

import json
import shlex
from typing import Any

from advisor.models.spec import ModelSpec
from rules.plan import Plan

GIB = 1024**3


def _model_ref(spec: ModelSpec) -> str:
    if spec.source in ("directory", "hf-cache", "safetensors", "gguf") and spec.location:
        return spec.location if spec.source != "hf-cache" else spec.name
    if spec.source == "catalog" and spec.location and "/" in spec.location:
        return spec.location
    return spec.name


def _gguf_file(spec: ModelSpec, plan: Plan) -> str:
    if spec.source == "gguf" and spec.location:
        return spec.location
    base = spec.name.split("/")[-1]
    return f"{base}.{plan.precision}.gguf"


def settings_for(plan: Plan, spec: ModelSpec) -> dict[str, Any]:
    """{"engine", "command" or "python", "env", ...}: what to type to run this plan."""
    env = {}
    if plan.cuda_visible_devices:
        # exported together they select the plan's physical GPUs whatever the caller's environment had set
        env = {"CUDA_DEVICE_ORDER": plan.cuda_device_order or "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": plan.cuda_visible_devices}
    ref = _model_ref(spec)
    kv = plan.kv_dtype
    rope = plan.rope_scaling
    if plan.engine == "vllm":
        args = ["vllm", "serve", ref, "--max-model-len", str(plan.context)]
        if plan.torch_dtype:
            args += ["--dtype", plan.torch_dtype]
        quant = {"fp8": "fp8", "awq-int4": "awq", "gptq-int4": "gptq", "nvfp4": "modelopt_fp4", "mxfp4": "mxfp4",
                 "int8-w8a8": "compressed-tensors"}.get(plan.precision)
        if quant and not (spec.quantization and plan.precision != "fp8"):
            args += ["--quantization", quant]
        if kv == "fp8":
            args += ["--kv-cache-dtype", "fp8"]
        if plan.gpu_memory_utilization is not None:
            args += ["--gpu-memory-utilization", f"{plan.gpu_memory_utilization:.2f}"]
        if plan.tensor_parallel_size and plan.tensor_parallel_size > 1:
            args += ["--tensor-parallel-size", str(plan.tensor_parallel_size)]
        if plan.batch > 1:
            args += ["--max-num-seqs", str(plan.batch)]
        if rope:
            # vLLM reads config overrides as JSON (--hf-overrides); YaRN as in Qwen's long-context instructions
            args += ["--hf-overrides", json.dumps({"rope_scaling": rope}, separators=(",", ":"))]
        return {"engine": "vllm", "command": shlex.join(args), "env": env}
    if plan.engine == "tensorrt-llm":
        args = ["trtllm-serve", ref, "--max_seq_len", str(plan.context), "--max_batch_size", str(plan.batch)]
        if plan.tensor_parallel_size and plan.tensor_parallel_size > 1:
            args += ["--tp_size", str(plan.tensor_parallel_size)]
        if plan.gpu_memory_utilization is not None:
            args += ["--kv_cache_free_gpu_memory_fraction", f"{plan.gpu_memory_utilization:.2f}"]
        return {"engine": "tensorrt-llm", "command": shlex.join(args), "env": env,
                "note": f"quantize the checkpoint to {plan.precision} with TensorRT Model Optimizer first"
                if plan.precision not in ("bf16", "fp16") else None}
    if plan.engine in ("llama.cpp", "ollama"):
        layers = plan.gpu_layers if plan.gpu_layers is not None else 0
        ngl = "99" if plan.total_layers and layers >= plan.total_layers else str(layers)
        if plan.placement == "cpu":
            ngl = "0"
        cache = kv if kv in ("q8_0", "q4_0") else "f16"
        if plan.engine == "ollama":
            modelfile = [f"FROM {_gguf_file(spec, plan)}", f"PARAMETER num_ctx {plan.context}",
                         f"PARAMETER num_gpu {ngl if ngl != '99' else (plan.total_layers or 99)}"]
            ollama_env = dict(env)
            if cache != "f16":
                ollama_env.update({"OLLAMA_FLASH_ATTENTION": "1", "OLLAMA_KV_CACHE_TYPE": cache})
            return {"engine": "ollama", "modelfile": "\n".join(modelfile), "env": ollama_env,
                    "options": {"num_ctx": plan.context, "num_gpu": int(ngl) if ngl != "99" else plan.total_layers}}
        args = ["llama-server", "-m", _gguf_file(spec, plan), "-c", str(plan.context * max(plan.batch, 1)), "-ngl", ngl]
        if plan.batch > 1:
            args += ["-np", str(plan.batch)]
        if cache != "f16":
            args += ["-ctk", cache, "-ctv", cache, "-fa", "on"]
        if len(plan.gpu_indices) > 1:
            args += ["--split-mode", "layer"]
        if rope:
            args += ["--rope-scaling", "yarn", "--rope-scale", f"{rope['factor']:g}",
                     "--yarn-orig-ctx", str(rope["original_max_position_embeddings"])]
        return {"engine": "llama.cpp", "command": shlex.join(args), "env": env}
    # transformers
    dtype = plan.torch_dtype or "bfloat16"
    lines = ["import torch", "from transformers import AutoModelForCausalLM"]
    kwargs = [f"torch_dtype=torch.{dtype}"]
    if rope:
        kwargs.append(f"rope_scaling={rope!r}")
    if plan.precision == "nf4":
        lines[1] = "from transformers import AutoModelForCausalLM, BitsAndBytesConfig"
        kwargs.append("quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=\"nf4\", "
                      "bnb_4bit_compute_dtype=torch.bfloat16)")
    elif plan.precision == "int8":
        lines[1] = "from transformers import AutoModelForCausalLM, BitsAndBytesConfig"
        kwargs.append("quantization_config=BitsAndBytesConfig(load_in_8bit=True)")
    if plan.placement == "cpu":
        kwargs.append('device_map="cpu"')
    elif plan.placement in ("single-gpu", "unified"):
        kwargs.append('device_map={"": 0}' if spec.modality != "other" else 'device_map="cuda:0"')
    else:
        budget = {}
        for i, use in enumerate(plan.per_device):
            key = "cpu" if use.kind == "cpu" else i
            budget[key] = f"{max(1, int((use.budget_bytes or use.memory.total_bytes) / GIB))}GiB"
        kwargs.append('device_map="auto"')
        kwargs.append(f"max_memory={budget!r}")
    ref_repr = repr(ref)
    lines.append(f"model = AutoModelForCausalLM.from_pretrained({ref_repr}, " + ", ".join(kwargs) + ")")
    if plan.mode in ("lora", "qlora"):
        lines.append("# then: peft.get_peft_model(model, LoraConfig(r=16, target_modules=[\"q_proj\", \"k_proj\", \"v_proj\", "
                     "\"o_proj\"]))")
    if plan.mode != "inference":
        lines.append("model.gradient_checkpointing_enable()")
    return {"engine": "transformers", "python": "\n".join(lines), "env": env, "torch_dtype": dtype,
            "device_map": next((k.split("=", 1)[1] for k in kwargs if k.startswith("device_map")), None)}
