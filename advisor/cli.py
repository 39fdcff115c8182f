"""The command line: parse, call, render. Errors become one stderr line and a documented exit code."""

from __future__ import annotations

import os

# The CLI uses no pydantic plugins; skipping their entry-point scan saves ~10 ms of every start.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import functools  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, TypeVar  # noqa: E402

import typer  # noqa: E402

from advisor import completion  # noqa: E402
from advisor.errors import EXIT_BAD_INPUT, AdvisorError, BadInputError  # noqa: E402
from advisor.output import _state, console, emit_json, env_on_error, fail  # noqa: E402, F401 - re-exported
from advisor.version import __version__  # noqa: E402

F = TypeVar("F", bound=Callable[..., Any])


def default_inventory(create: bool = False) -> Path:
    from advisor.state import default_inventory as where

    return where(create)


def go_offline(offline: bool) -> None:
    """--offline: this process never asks the Hub (huggingface_hub reads the same variable)."""
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"


def flag(*names: str, **kw: Any) -> Any:
    """A boolean flag: shown in help without a value type (it takes none)."""
    return typer.Option(False, *names, metavar="", **kw)


OFFLINE = flag("--offline", help="Never ask the Hugging Face Hub (as HF_HUB_OFFLINE=1): disk, cache and catalog only.")

app = typer.Typer(
    name="advisor",
    help="Will this model run on this machine, at which precision, with which engine — and if not, "
    "what would make it run?",
    add_completion=False,  # `advisor completion install` says what it changes before it changes it
    pretty_exceptions_enable=False,
    no_args_is_help=False,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

def handles_errors(fn: F) -> F:
    """Turn AdvisorError (and any bug) into one stderr line and its exit code; --debug shows a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except AdvisorError as exc:
            if _state["debug"]:
                traceback.print_exc()
            raise fail(f"error: {exc}", exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except BrokenPipeError:
            # the reader went away (`advisor models | head`): stop quietly, as pipes expect
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(0) from None
        except Exception as exc:  # noqa: BLE001 - never a traceback for users
            if _state["debug"]:
                traceback.print_exc()
            raise fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
                       EXIT_BAD_INPUT) from None

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"advisor {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = flag("--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = flag("--debug", help="Show a traceback when something fails."),
    quiet: bool = flag("--quiet", "-q", help="For scripts: check prints nothing (its exit code says it); errors "
                       "still print one line on stderr."),
    json_out: bool = flag("--json", help="JSON output (the overview with no command; for a command, the same as its "
                          "own --json)."),
) -> None:
    """Run with no command to see what the featured models need on this machine.

    Example: advisor · advisor fit llama3.1:8b · advisor check qwen2.5:7b --format env
    """
    _state["env_model"] = None  # per invocation: an earlier `check --format env` in this process does not carry over
    _state["debug"] = debug
    _state["quiet"] = quiet
    _state["json"] = json_out  # `advisor --json COMMAND` is the same as `advisor COMMAND --json`
    if ctx.invoked_subcommand is None:
        from advisor.commands.fit import run_overview

        code = handles_errors(run_overview)(json_out=json_out)
        raise typer.Exit(code)


@app.command()
@handles_errors
def probe(
    json_out: bool = flag("--json", help="Print the snapshot as JSON."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the JSON snapshot to FILE (atomically)."),
    no_torch: bool = flag("--no-torch", help="Do not ask torch (faster)."),
    nvml_timeout: float = typer.Option(10.0, "--nvml-timeout", min=0.1, max=600.0,
                                      help="Seconds to wait for NVML (0.1 to 600)."),
    fmt: str = typer.Option("rich", "--format", help="rich, json, prometheus (node_exporter textfile) or k8s-labels."),
    from_file: Path | None = typer.Option(None, "--from", help="Show a saved snapshot instead of probing."),
    refresh: bool = flag("--refresh", help="Ask torch again even when its cached answers still hold."),
) -> None:
    """Read this machine: GPUs, RAM, CPU, disk and accelerator abilities.

    Example: advisor probe --json > $(hostname).json · advisor probe --format prometheus -o /var/lib/node_exporter/advisor.prom
    """
    from advisor.commands.probe import run_probe

    run_probe(json_out=json_out or _state["json"], output=output, with_torch=not no_torch, nvml_timeout=nvml_timeout, fmt=fmt,
              from_file=from_file, refresh=refresh)


@app.command()
@handles_errors
def schema(
    name: str = typer.Argument("snapshot", help="snapshot or result"),
    json_out: bool = flag("--json", help="Accepted for uniformity: the schema is JSON."),
) -> None:
    """Print the JSON Schema of a document advisor writes.

    Example: advisor schema snapshot > snapshot.schema.json
    """
    from advisor.commands.schema import print_schema

    print_schema(name)


@app.command()
@handles_errors
def gpus(
    words: list[str] | None = typer.Argument(None, metavar="[QUERY]", help="Words to search for, e.g. 4090 or orin."),
    json_out: bool = flag("--json", help="Print JSON."),
    devices: bool = flag("--devices", help="The edge and NPU targets that --device names instead."),
) -> None:
    """List the built-in GPU and device table that --gpu names (memory, compute capability, unified memory).

    Examples: advisor gpus · advisor gpus h100 · advisor gpus --devices coral · advisor fit llama3.1:8b --gpu "2x H100"
    """
    from advisor.commands.gpus import run_devices, run_gpus

    (run_devices if devices else run_gpus)(list(words or []), json_out or _state["json"])


@app.command()
@handles_errors
def models(
    words: list[str] | None = typer.Argument(None, metavar="[QUERY] | show NAME|PATH",
                                             help="Search words, or `show` and a model name, directory or file."),
    json_out: bool = flag("--json", help="Print JSON."),
    offline: bool = OFFLINE,
    fmt: str = typer.Option("rich", "--format", "-f", help="rich, tsv (one model a line, for grep and cut) or json."),
) -> None:
    """List or search the built-in catalog, or show the full spec of any model advisor can read.

    Examples: advisor models qwen3 · advisor models show llama3.1:8b · advisor models show ./model.gguf
    """
    from advisor.commands.models import run_models

    go_offline(offline)

    run_models(list(words or []), json_out or _state["json"] or fmt.lower() == "json", fmt.lower())


# Options shared by fit and check.
CONTEXT = typer.Option(None, "--context", "-c", help="Tokens per sequence (prompt + output), e.g. 8192 or 32k. "
                       "Default: the model's maximum, capped at 8192.")
PROMPT = typer.Option(None, "--prompt", help="Tokens of the longest prompt, e.g. 2k (default: the whole context): the "
                      "prefill's working memory follows it, the KV cache the context.")
BATCH = typer.Option(1, "--batch", "-b", help="Sequences (or images) at once.")
BEAMS = typer.Option(None, "--beams", help="Speech models: beam-search beams (default 1).")
NEW_TOKENS = typer.Option(None, "--new-tokens", help="Speech models: tokens decoded per 30 s window (default: the "
                          "most the model decodes, 444 for Whisper).")
AUDIO = typer.Option(None, "--audio-length", help="Speech models: the audio's length, e.g. 90s, 10m or 1h (it is "
                     "decoded in 30 s windows; --batch windows at once).")
RESOLUTION = typer.Option(None, "--resolution", help="Diffusion models: the image to generate, 1024 or WIDTHxHEIGHT "
                          "(default: the model's own; same as --image-size).")
STEPS = typer.Option(None, "--steps", help="Diffusion models: denoising steps (time only; default 30).")
IMAGE_SIZE = typer.Option(None, "--image-size", help="Vision models and multimodal LLMs: the input size in pixels, 640 "
                          "or WIDTHxHEIGHT such as 1280x720 (default: the model's own size).")
IMAGES = typer.Option(None, "--images", help="Multimodal LLMs: images per sequence (default 1; 0 for text only): each "
                      "takes tokens of the context and the vision tower's working memory.")
PLACEMENT = typer.Option("auto", "--placement", help="The layout you will run: auto, single-gpu, tensor-parallel, "
                         "layer-split, offload or cpu (the plan and its per-device figures are for that layout).")
MODE = typer.Option("inference", "--mode", help="inference, finetune (full, AdamW), lora or qlora.")
ENGINE = typer.Option("auto", "--engine", "-e", autocompletion=completion.engines,
                      help="auto, vllm, sglang, tensorrt-llm, transformers, llama.cpp or ollama; for other kinds of "
                      "model their runtimes (pytorch, ultralytics, onnxruntime, tensorrt, openvino, litert, coreml, "
                      "hailort, qnn, faster-whisper, sentence-transformers, diffusers).")
PRECISION = typer.Option("auto", "--precision", "-p", autocompletion=completion.precisions,
                         help="auto, bf16, fp16, fp32, fp8, int8, int4, nf4, awq, gptq, fp4, or a GGUF type such as "
                         "Q4_K_M.")
KV = typer.Option("auto", "--kv-dtype", autocompletion=completion.kv_dtypes,
                  help="KV cache dtype: auto, fp16, bf16, fp8 (vLLM, SGLang, TensorRT-LLM), q8_0 or q4_0 (llama.cpp, "
                  "Ollama).")
HEADROOM = typer.Option(None, "--headroom", help="Memory kept free per device, e.g. 2GiB or 15%. Default: 10% or 1 GiB.")
GPUS = typer.Option(None, "--gpus", help="NVML indices of the GPUs that may be used, e.g. 0,1.")
APPROX = flag("--allow-approximate", help="Accept a verdict on a model known only approximately (a "
                      "size read from its name); otherwise check says cannot tell (exit 3).")
EXTEND = flag("--extend-context", help="Allow --context beyond the model's trained maximum, with "
                      "rope scaling (YaRN) in the settings.")
METHOD = typer.Option("detailed", "--method", help="detailed (component by component) or rule-of-thumb (params × bytes × 2).")
HARDWARE = typer.Option(None, "--hardware", envvar="ADVISOR_HARDWARE", autocompletion=completion.snapshot_files,
                        help="Decide on a snapshot file from another machine (advisor probe --json). Env: ADVISOR_HARDWARE.")
WHATIF_DEVICE = typer.Option(None, "--device", help='What-if edge or NPU target from the device table, e.g. "Coral '
                             'Edge TPU (USB)", "Hailo-8", "Raspberry Pi 5 8GB" (advisor gpus --devices lists it).')
WHATIF_GPU = typer.Option(None, "--gpu", autocompletion=completion.gpu_names,
                          help='What-if GPUs from the table, e.g. "RTX 4090" or "2xH100" (advisor gpus lists it).')
UTIL = typer.Option(None, "--gpu-memory-utilization", help="The engine's memory flag: vLLM's share of the total, "
                    "SGLang's static fraction, TensorRT-LLM's share of what is free after the weights (default: "
                    "chosen from what is free).")


@app.command()
@handles_errors
def fit(
    models: list[str] = typer.Argument(..., autocompletion=completion.models,
                                      help="One or more models: catalog names, HF repo ids, directories, .gguf or "
                                      ".safetensors files."),
    context: str | None = CONTEXT, prompt: str | None = PROMPT, batch: int = BATCH,
    image_size: str | None = IMAGE_SIZE, images: int | None = IMAGES, beams: int | None = BEAMS,
    new_tokens: int | None = NEW_TOKENS,
    audio_length: str | None = AUDIO, resolution: str | None = RESOLUTION, steps: int | None = STEPS,
    mode: str = MODE,
    engine: str = ENGINE, precision: str = PRECISION, kv_dtype: str = KV, headroom: str | None = HEADROOM,
    gpus: str | None = GPUS, placement: str = PLACEMENT,
    method: str = METHOD, hardware: Path | None = HARDWARE, gpu: str | None = WHATIF_GPU,
    device: str | None = WHATIF_DEVICE,
    gpu_memory_utilization: float | None = UTIL, allow_approximate: bool = APPROX, extend_context: bool = EXTEND,
    offline: bool = OFFLINE,
    json_out: bool = flag("--json", help="Print the result as JSON."),
    verbose: bool = flag("--verbose", "-v", help="List every rejected candidate."),
    fmt: str = typer.Option("text", "--format", "-f", help="text, json, tsv (the plan and its runners-up, one a line) or "
                            "html (a one-page picture of the plan)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="With --format html: write the page to FILE."),
) -> None:
    """Recommend how to run a model here: precision, engine, placement, memory per device, settings to paste.

    Examples: advisor fit llama3.1:8b · advisor fit Qwen/Qwen2.5-32B-Instruct --gpu "RTX 4090" --context 16k
    """
    from advisor.commands.fit import run_fit

    go_offline(offline)
    if fmt.lower() == "html":
        from advisor.commands.fit import run_fit_html

        raise typer.Exit(run_fit_html(list(models), output, context=context, prompt=prompt, batch=batch, mode=mode,
                                      engine=engine, precision=precision, kv_dtype=kv_dtype, headroom=headroom,
                                      gpus=gpus, method=method, hardware=hardware, gpu=gpu,
                                      gpu_memory_utilization=gpu_memory_utilization,
                                      allow_approximate=allow_approximate, extend_context=extend_context,
                                      placement=placement, image_size=image_size, images=images, beams=beams, new_tokens=new_tokens,
                             audio_length=audio_length, resolution=resolution, steps=steps, device=device))
    if fmt.lower() == "tsv":
        from advisor.commands.fit import run_fit_tsv

        raise typer.Exit(run_fit_tsv(list(models), context=context, prompt=prompt, batch=batch, mode=mode,
                                     engine=engine, precision=precision, kv_dtype=kv_dtype, headroom=headroom,
                                     gpus=gpus, method=method, hardware=hardware, gpu=gpu,
                                     gpu_memory_utilization=gpu_memory_utilization,
                                     allow_approximate=allow_approximate, extend_context=extend_context,
                                     placement=placement, image_size=image_size, images=images, beams=beams, new_tokens=new_tokens,
                             audio_length=audio_length, resolution=resolution, steps=steps, device=device))
    if fmt.lower() not in ("text", "json"):
        raise BadInputError(f"--format: unknown format {fmt!r} (choose from text, json, tsv, html)")
    raise typer.Exit(run_fit(list(models), json_out or _state["json"] or fmt.lower() == "json", verbose,
                             context=context, prompt=prompt,
                             batch=batch, mode=mode, engine=engine,
                             precision=precision, kv_dtype=kv_dtype, headroom=headroom, gpus=gpus, method=method,
                             hardware=hardware, gpu=gpu, gpu_memory_utilization=gpu_memory_utilization,
                             allow_approximate=allow_approximate, extend_context=extend_context,
                             placement=placement, image_size=image_size, images=images, beams=beams, new_tokens=new_tokens,
                             audio_length=audio_length, resolution=resolution, steps=steps, device=device))


@app.command()
@handles_errors
def check(
    model: str = typer.Argument(..., autocompletion=completion.models, help="The model to check."),
    context: str | None = CONTEXT, prompt: str | None = PROMPT, batch: int = BATCH,
    image_size: str | None = IMAGE_SIZE, images: int | None = IMAGES, beams: int | None = BEAMS,
    new_tokens: int | None = NEW_TOKENS,
    audio_length: str | None = AUDIO, resolution: str | None = RESOLUTION, steps: int | None = STEPS,
    mode: str = MODE,
    engine: str = ENGINE, precision: str = PRECISION, kv_dtype: str = KV, headroom: str | None = HEADROOM,
    gpus: str | None = GPUS, placement: str = PLACEMENT,
    method: str = METHOD, hardware: Path | None = HARDWARE, gpu: str | None = WHATIF_GPU,
    device: str | None = WHATIF_DEVICE,
    gpu_memory_utilization: float | None = UTIL, allow_approximate: bool = APPROX, extend_context: bool = EXTEND,
    offline: bool = OFFLINE,
    fmt: str = typer.Option("text", "--format", "-f", help="text, json or env (shell assignments for eval; eval "
                            "returns the exit code)."),
    json_out: bool = flag("--json", help="Same as --format json."),
) -> None:
    """Pre-flight for launch scripts. Exit 0 fits · 1 does not fit · 2 bad input · 3 cannot tell.

    Example: advisor check llama3.1:8b --precision bf16 --context 8192 || echo "fall back"
    Example: if eval "$(advisor check qwen2.5:7b --format env)"; then ...; fi
    """
    from advisor.commands.fit import run_check

    go_offline(offline)

    json_out = json_out or _state["json"]
    if (fmt or "").lower() == "env" and not json_out:
        env_on_error(model)

    raise typer.Exit(run_check(model, fmt, json_out, context=context, prompt=prompt, batch=batch, mode=mode,
                               engine=engine,
                               precision=precision, kv_dtype=kv_dtype, headroom=headroom, gpus=gpus, method=method,
                               hardware=hardware, gpu=gpu, gpu_memory_utilization=gpu_memory_utilization,
                             allow_approximate=allow_approximate, extend_context=extend_context,
                             placement=placement, image_size=image_size, images=images, beams=beams, new_tokens=new_tokens,
                             audio_length=audio_length, resolution=resolution, steps=steps, device=device))


@app.command()
@handles_errors
def report(
    sources: list[str] | None = typer.Argument(None, metavar="[SNAPSHOT|DIR|FILE.jsonl|-]...",
                                               help="Snapshot files, directories of them, JSON-lines files, - for stdin."),
    db: Path | None = typer.Option(None, "--db", help="Report the newest snapshot of every host in this inventory."),
    model: list[str] | None = typer.Option(None, "--model", "-m", help="Add a hosts × models matrix (repeatable)."),
    context: str | None = CONTEXT, batch: int = BATCH, image_size: str | None = IMAGE_SIZE, mode: str = MODE,
    engine: str = ENGINE,
    precision: str = PRECISION, kv_dtype: str = KV, headroom: str | None = HEADROOM,
    fmt: str = typer.Option("rich", "--format", "-f", help="rich, csv, tsv, json, markdown or html."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report to FILE (atomically)."),
    stale_after: str = typer.Option("24h", "--stale-after", help="Flag snapshots older than this (e.g. 36h, 7d)."),
    json_out: bool = flag("--json", help="Same as --format json."),
    offline: bool = OFFLINE,
) -> None:
    """One report over many machines: hosts, fleet totals, problems, and which models run where.

    Examples: advisor report snapshots/ · advisor report fleet.jsonl -m llama3.1:8b -m qwen2.5:72b --format html -o fleet.html
    """
    from advisor.commands.report import run_report

    go_offline(offline)

    fmt = "json" if json_out or _state["json"] else fmt
    raise typer.Exit(run_report(list(sources or []), db=db, models=list(model or []), fmt=fmt, output=output,
                                stale_after=stale_after, context=context, batch=batch, image_size=image_size, mode=mode, engine=engine,
                                precision=precision, kv_dtype=kv_dtype, headroom=headroom))


if os.environ.get("_ADVISOR_COMPLETE"):
    # a shell asks for completions: register typer's shell classes (typer does so itself only with add_completion)
    from typer._completion_classes import completion_init

    completion_init()

@app.command()
@handles_errors
def verify(
    model: str = typer.Argument(..., autocompletion=completion.models, help="The model to measure."),
    context: str | None = CONTEXT, prompt: str | None = PROMPT, batch: int = BATCH,
    engine: str = ENGINE, precision: str = PRECISION, kv_dtype: str = KV, headroom: str | None = HEADROOM,
    gpus: str | None = GPUS, placement: str = PLACEMENT,
    decode_steps: int = typer.Option(8, "--decode-steps", help="Greedy decode steps after the prefill."),
    runs: int | None = typer.Option(None, "--runs", help="Fresh processes to measure in (default 3 on the CPU, "
                                    "where the same run peaks differently in each process; 1 on a GPU)."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds each run may take before it is stopped."),
    force: bool = flag("--force", help="Run a plan that does not fit, or that advisor cannot size (it may run "
                       "the machine out of memory)."),
    record: bool = flag("--record", help="Store the measurement in the inventory: fit and check then never "
                        "estimate this configuration on this machine below it."),
    db: Path | None = typer.Option(None, "--db", envvar="ADVISOR_INVENTORY", help="The inventory for --record. "
                                   "Env: ADVISOR_INVENTORY. Default: ~/.local/state/advisor/inventory.db."),
    sweep: bool = flag("--sweep", help="Measure a grid of prompt lengths and batch sizes and print each term's "
                       "error."),
    sweep_prompts: str | None = typer.Option(None, "--sweep-prompts", help="The sweep's prompts, e.g. 256,1k,4k "
                                             "(default: 1/16, 1/4 and all of the context)."),
    sweep_batches: str | None = typer.Option(None, "--sweep-batches", help="The sweep's batch sizes, e.g. 1,4."),
    hardware: Path | None = typer.Option(None, "--hardware", hidden=True),
    gpu: str | None = typer.Option(None, "--gpu", hidden=True),
    device: str | None = typer.Option(None, "--device", hidden=True),
    offline: bool = OFFLINE,
    json_out: bool = flag("--json", help="Print the result as JSON."),
) -> None:
    """Measure the plan on this machine: the model built from its config with random weights (nothing
    downloaded), one prefill and a few decode steps, estimate against measured by term and phase.

    Exit 0 measured, the estimate held · 1 the plan does not fit (not run) · 2 bad input · 3 cannot tell ·
    4 not measurable here · 5 the run failed · 6 a run peaked above the estimate.

    Example: advisor verify SmolLM2-135M --context 2048 · advisor verify Qwen/Qwen2.5-0.5B --sweep --record
    """
    from advisor.commands.verify import run_verify

    go_offline(offline)
    raise typer.Exit(run_verify(model, json_out=json_out or _state["json"], force=force, runs=runs,
                                decode_steps=decode_steps, timeout=timeout, record=record, db=db, sweep=sweep,
                                sweep_prompts=sweep_prompts, sweep_batches=sweep_batches, context=context,
                                prompt=prompt, batch=batch, engine=engine, precision=precision, kv_dtype=kv_dtype,
                                headroom=headroom, gpus=gpus, placement=placement, hardware=hardware, gpu=gpu,
                                device=device))


completion_app = typer.Typer(help="Shell completion of commands, options and their values.", no_args_is_help=True)
app.add_typer(completion_app, name="completion")


@completion_app.command("show")
@handles_errors
def completion_show(
    shell: str | None = typer.Argument(None, help="bash, zsh or fish (default: this shell)."),
    json_out: bool = flag("--json", help="The shell and the script as JSON."),
) -> None:
    """Print the completion script, to place it yourself.

    Example: advisor completion show bash > ~/.local/share/bash-completion/completions/advisor
    """
    from advisor.commands.completion import run_show

    run_show(shell, json_out or _state["json"])


@completion_app.command("install")
@handles_errors
def completion_install(
    shell: str | None = typer.Argument(None, help="bash, zsh or fish (default: this shell)."),
    yes: bool = flag("--yes", "-y", help="Install without asking (what it changes is still printed)."),
    json_out: bool = flag("--json", help="What it changes (and, with --yes, what it installed) as JSON."),
) -> None:
    """Install completion: says which files it will write and change, and asks first.

    Example: advisor completion install bash
    """
    from advisor.commands.completion import run_install

    raise typer.Exit(run_install(shell, yes, json_out or _state["json"]))


inventory_app = typer.Typer(help="Snapshot history in a SQLite file: add snapshots, see what changed.",
                            no_args_is_help=True)
app.add_typer(inventory_app, name="inventory")
DB = typer.Option(None, "--db", envvar="ADVISOR_INVENTORY", help="The inventory file. Env: ADVISOR_INVENTORY. "
                  "Default: $XDG_STATE_HOME/advisor/inventory.db (~/.local/state/advisor/inventory.db).")


@inventory_app.command("add")
@handles_errors
def inventory_add(
    sources: list[str] = typer.Argument(..., metavar="SNAPSHOT|DIR|FILE.jsonl|-...", help="Snapshots to store."),
    db: Path | None = DB,
    json_out: bool = flag("--json", help="Print what was stored and rejected as JSON."),
) -> None:
    """Store snapshots (one transaction; bad ones are rejected by name, the good ones kept).

    Example: advisor inventory add snapshots/ --db fleet.db
    """
    from advisor.commands.inventory import run_add

    raise typer.Exit(run_add(list(sources), db or default_inventory(create=True), json_out or _state["json"]))


@inventory_app.command("diff")
@handles_errors
def inventory_diff(
    since: str = typer.Option(..., "--since", help="A date (2026-11-01) or an age (7d, 36h)."),
    db: Path | None = DB,
    fmt: str = typer.Option("rich", "--format", "-f", help="rich or json."),
    json_out: bool = flag("--json", help="Same as --format json."),
) -> None:
    """What changed since a date: GPUs missing or added, memory, driver, CUDA, new hosts, hosts gone quiet.

    Example: advisor inventory diff --since 7d --db fleet.db
    """
    from advisor.commands.inventory import run_diff

    raise typer.Exit(run_diff(db or default_inventory(), since, "json" if json_out or _state["json"] else fmt))


@inventory_app.command("measurements")
@handles_errors
def inventory_measurements(
    db: Path | None = DB,
    json_out: bool = flag("--json", help="Print the records as JSON."),
) -> None:
    """The measurements recorded by advisor verify --record: host, model, configuration, estimate and measured.

    Example: advisor inventory measurements
    """
    from advisor.commands.inventory import run_measurements

    raise typer.Exit(run_measurements(db or default_inventory(), json_out or _state["json"]))


def _env_requested(argv: list[str]) -> str | None:
    """The model of `check ... --format env` in a command line that did not parse, so the error can set the
    variables too; None when env output was not asked for."""
    if "check" not in argv:
        return None
    rest = argv[argv.index("check") + 1:]
    wants = any(a in ("--format=env", "-fenv") for a in rest) or any(
        a in ("--format", "-f") and i + 1 < len(rest) and rest[i + 1].lower() == "env" for i, a in enumerate(rest))
    if not wants:
        return None
    return next((a for a in rest if not a.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: usage errors are one line on stderr (exit 2), like every other error."""
    # click's exceptions, from wherever this typer takes click (recent typer versions vendor it)
    errors = sys.modules[typer.BadParameter.__module__]
    no_args = getattr(errors, "NoArgsIsHelpError", ())
    args = list(sys.argv[1:] if argv is None else argv)
    from advisor.output import install_ascii_fallback

    install_ascii_fallback()
    _state["env_model"] = None
    try:
        rv = app(args=args, standalone_mode=False, prog_name="advisor")
    except no_args:  # typer has printed the help already
        return 0
    except errors.UsageError as exc:
        message = " ".join(exc.format_message().split())
        command = exc.ctx.command_path if exc.ctx else "advisor"
        model = _env_requested(args)
        if model is not None:
            _state["env_model"] = model
        fail(f"error: {message} (see: {command} --help)", EXIT_BAD_INPUT)
        return EXIT_BAD_INPUT
    except errors.ClickException as exc:
        fail(f"error: {' '.join(exc.format_message().split())}", exc.exit_code)
        return int(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("advisor: interrupted\n")
        return 130
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_BAD_INPUT
    return int(rv) if isinstance(rv, int) else 0
