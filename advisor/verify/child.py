"""The measuring process: `python -m advisor.verify.child JOB.json` builds the job's model (advisor.verify.build),
runs one prefill of `prompt` tokens and `decode_steps` greedy decode steps with transformers' generate(), and
prints one JSON line: what it held after the imports, after building, at the prefill's peak and at the decode's.

On the CPU the marks are the kernel's (VmRSS, and VmHWM reset between phases); on a CUDA GPU they are torch's
allocator's (max_memory_allocated / max_memory_reserved, reset between phases) and NVML's figure for this
process (which adds the CUDA context and libraries). The phase boundary is the first call of a logits processor:
generate() calls it once the prompt's forward pass has produced the first logits.

Exit codes: 0 measured; 4 the model cannot be built here (NotBuildable: one line on stderr); 5 anything else failed
(one line on stderr). Nothing is written to disk; the environment keeps the Hub offline.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

EXIT_NOT_BUILDABLE = 4
EXIT_FAILED = 5


class CpuMeter:
    """Peak resident size of this process, by phase."""

    def __init__(self) -> None:
        from advisor.verify import rss

        self.rss = rss

    def now(self) -> dict[str, int]:
        return {"rss_bytes": self.rss.status_bytes("VmRSS")}

    def start(self) -> None:
        self.rss.reset_peak()

    def peak(self) -> dict[str, int]:
        return {"peak_rss_bytes": self.rss.status_bytes("VmHWM")}


class CudaMeter:
    """Peaks of torch's CUDA allocator on one device, by phase, and NVML's figure for this process."""

    def __init__(self, torch: Any, device: str, nvml_index: int | None, nvml: Any = None) -> None:
        self.torch, self.device, self.nvml_index, self.nvml = torch, device, nvml_index, nvml

    def _process_bytes(self) -> int | None:
        """This process's GPU memory as NVML sees it (context, libraries and the allocator's pool); None where
        NVML does not say (MIG, WDDM, no driver access)."""
        if self.nvml is None or self.nvml_index is None:
            return None
        try:
            handle = self.nvml.nvmlDeviceGetHandleByIndex(self.nvml_index)
            for proc in self.nvml.nvmlDeviceGetComputeRunningProcesses(handle):
                if proc.pid == os.getpid():
                    used = proc.usedGpuMemory
                    return int(used) if isinstance(used, int) else None
        except self.nvml.NVMLError:
            return None
        return None

    def now(self) -> dict[str, int | None]:
        cuda = self.torch.cuda
        cuda.synchronize(self.device)
        return {"allocated_bytes": int(cuda.memory_allocated(self.device)),
                "reserved_bytes": int(cuda.memory_reserved(self.device)),
                "process_bytes": self._process_bytes()}

    def start(self) -> None:
        self.torch.cuda.synchronize(self.device)
        self.torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> dict[str, int | None]:
        cuda = self.torch.cuda
        cuda.synchronize(self.device)
        return {"peak_allocated_bytes": int(cuda.max_memory_allocated(self.device)),
                "peak_reserved_bytes": int(cuda.max_memory_reserved(self.device)),
                "reserved_bytes": int(cuda.memory_reserved(self.device)),
                "process_bytes": self._process_bytes()}


def _nvml() -> Any:
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:  # noqa: BLE001 - no NVML: the process figure is unknown, the allocator's are still read
        return None


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Run the job in this process and return what was measured (see the module's docstring)."""
    from advisor.verify import rss

    marks: dict[str, Any] = {"rss_python_bytes": rss.status_bytes("VmRSS")}
    import torch
    import transformers

    from advisor.verify.build import cache_bytes, causal_lm, tensor_bytes

    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    device = job["device"]
    on_gpu = device.startswith("cuda")
    if on_gpu:
        torch.cuda.set_device(device)
        torch.zeros(1, device=device)  # the CUDA context, before anything is counted
        meter: Any = CudaMeter(torch, device, job.get("nvml_index"), _nvml())
    else:
        meter = CpuMeter()
    marks["after_imports"] = {**meter.now(), "rss_bytes": rss.status_bytes("VmRSS")}
    t0 = time.perf_counter()
    net = causal_lm(job["config"], job["dtype"], device, job.get("attn_implementation", "sdpa"))
    marks["build_seconds"] = round(time.perf_counter() - t0, 2)
    marks["weights_bytes"] = tensor_bytes(net.parameters())
    marks["buffer_bytes"] = tensor_bytes(net.buffers())  # rotary tables and the like: not weights
    marks["after_build"] = {**meter.now(), "rss_bytes": rss.status_bytes("VmRSS")}

    prompt, steps, batch = int(job["prompt"]), int(job["decode_steps"]), int(job["batch"])
    vocab = int(net.config.get_text_config().vocab_size)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (1, prompt), generator=gen).repeat(batch, 1).to(device)
    phases: dict[str, Any] = {}

    class PhaseMark(transformers.LogitsProcessor):
        """Called by generate() after each forward pass: the first call ends the prefill."""

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            if "prefill" not in phases:
                phases["prefill"] = meter.peak()
                phases["prefill_seconds"] = round(time.perf_counter() - t_gen, 2)
                meter.start()
            return scores

    meter.start()
    t_gen = time.perf_counter()
    with torch.inference_mode():
        out = net.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=steps + 1, min_new_tokens=steps + 1,
                           do_sample=False, pad_token_id=0, return_dict_in_generate=True,
                           logits_processor=transformers.LogitsProcessorList([PhaseMark()]))
    phases["decode"] = meter.peak()
    phases["decode_seconds"] = round(time.perf_counter() - t_gen - phases["prefill_seconds"], 2)
    cache = out.get("cache") if "cache" in out else out.get("past_key_values")
    marks["kv_cache_bytes"] = cache_bytes(cache)
    marks["tokens"] = int(out.sequences.shape[1])
    marks["phases"] = phases
    gpu = {"gpu": torch.cuda.get_device_name(device), "cuda": torch.version.cuda} if on_gpu else {}
    marks["conditions"] = rss.conditions(transformers=transformers.__version__,
                                         attn_implementation=net.config._attn_implementation, **gpu)
    return marks


_LOG_SIZES = (("kv_cache_log_bytes", re.compile(r"KV buffer size\s*=\s*([0-9.]+) MiB")),
              ("compute_buffer_log_bytes", re.compile(r"compute buffer size\s*=\s*([0-9.]+) MiB")),
              ("weights_log_bytes", re.compile(r"model buffer size\s*=\s*([0-9.]+) MiB")))


def _log_sizes(text: str) -> dict[str, int]:
    """The buffers llama.cpp says it allocated (its load log, MiB with two decimals), summed over devices."""
    out = {}
    for key, pattern in _LOG_SIZES:
        found = [float(m) for m in pattern.findall(text)]
        if found:
            out[key] = int(sum(found) * 2**20)
    return out


def measure_llamacpp(job: dict[str, Any]) -> dict[str, Any]:
    """llama.cpp through llama-cpp-python on the CPU: a synthetic GGUF of the model at the plan's types (zeros, a
    sparse file), loaded as llama-server would (the context, micro-batch 512, flash attention on), one prefill
    and `decode_steps` single-token steps. llama.cpp allocates its KV cache and compute buffer when the context
    is created, so they are in the resident size after building."""
    from advisor.verify import rss
    from advisor.verify.gguf_synth import NotSynthesizable, write

    marks: dict[str, Any] = {"rss_python_bytes": rss.status_bytes("VmRSS"), "kv_preallocated": True}
    import llama_cpp

    marks["after_imports"] = {"rss_bytes": rss.status_bytes("VmRSS")}
    path = Path(job["scratch"]) / "model.gguf"
    try:
        weights = write(path, job["config"], job["mix"])
    except NotSynthesizable as exc:
        from advisor.verify.build import NotBuildable

        raise NotBuildable(str(exc)) from None
    marks["weights_bytes"] = weights
    log = Path(job["scratch"]) / "llama.log"
    kv_types = {"q8_0": 8, "q4_0": 2}  # GGML_TYPE_Q8_0, GGML_TYPE_Q4_0
    kv = kv_types.get(job.get("kv_dtype") or "")
    t0 = time.perf_counter()
    saved = os.dup(2)
    with log.open("wb") as sink:
        os.dup2(sink.fileno(), 2)  # llama.cpp logs its buffers on stderr: read them back
        try:
            llm = llama_cpp.Llama(str(path), n_ctx=int(job["context"]), n_batch=2048, n_ubatch=512, n_gpu_layers=0,
                                  flash_attn=True, verbose=True, type_k=kv, type_v=kv,
                                  n_threads=job.get("threads") or os.cpu_count())
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    marks["build_seconds"] = round(time.perf_counter() - t0, 2)
    marks.update(_log_sizes(log.read_text(errors="replace")))
    marks["kv_cache_bytes"] = marks.get("kv_cache_log_bytes", 0)
    marks["after_build"] = {"rss_bytes": rss.status_bytes("VmRSS")}
    prompt, steps = int(job["prompt"]), int(job["decode_steps"])
    vocab = int(job["config"]["vocab_size"])
    tokens = [3 + (i * 7919) % (vocab - 3) for i in range(prompt + steps)]
    phases: dict[str, Any] = {}
    rss.reset_peak()
    t0 = time.perf_counter()
    llm.eval(tokens[:prompt])
    phases["prefill"] = {"peak_rss_bytes": rss.status_bytes("VmHWM")}
    phases["prefill_seconds"] = round(time.perf_counter() - t0, 2)
    rss.reset_peak()
    t0 = time.perf_counter()
    for tok in tokens[prompt:]:
        llm.eval([tok])
    phases["decode"] = {"peak_rss_bytes": rss.status_bytes("VmHWM")}
    phases["decode_seconds"] = round(time.perf_counter() - t0, 2)
    marks["tokens"] = prompt + steps
    marks["phases"] = phases
    marks["conditions"] = {"llama_cpp_python": llama_cpp.__version__, "python": platform.python_version(),
                           "threads": job.get("threads") or os.cpu_count(), "flash_attn": True, "n_ubatch": 512,
                           "cpu": rss.cpu_model(), "machine": platform.machine()}
    return marks


def main(argv: list[str]) -> int:
    from advisor.verify.build import NotBuildable

    try:
        job = json.loads(Path(argv[0]).read_text())
        run = measure_llamacpp if job.get("builds") == "gguf" else measure
        print(json.dumps(run(job)), flush=True)
    except NotBuildable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NOT_BUILDABLE
    except Exception as exc:  # noqa: BLE001 - one line for the parent; the child's traceback is no use to a user
        text = str(exc).strip().splitlines()
        print(f"error: {type(exc).__name__}: {text[0][:300] if text else ''}", file=sys.stderr)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
