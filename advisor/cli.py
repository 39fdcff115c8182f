"""The command line: parse, call, render. Errors become one stderr line and a documented exit code."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from advisor import __version__
from advisor.errors import EXIT_BAD_INPUT, AdvisorError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="advisor",
    help="Will this model run on this machine, at which precision, with which engine — and if not, "
    "what would make it run?",
    add_completion=True,
    pretty_exceptions_enable=False,
    no_args_is_help=False,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


def fail(message: str, code: int) -> typer.Exit:
    """Print one line on stderr and return the Exit to raise."""
    sys.stderr.write(f"advisor: {message}\n")
    sys.stderr.flush()
    return typer.Exit(code)


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
        except Exception as exc:  # noqa: BLE001 - never a traceback for users
            if _state["debug"]:
                traceback.print_exc()
            raise fail(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
                       EXIT_BAD_INPUT) from None

    return wrapper  # type: ignore[return-value]


def console(stderr: bool = False) -> Any:
    """A rich console: colour on a terminal, plain text when piped; NO_COLOR honoured by rich."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def emit_json(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"advisor {__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show a traceback when something fails."),
) -> None:
    """Run with no command to see what the featured models need on this machine."""
    _state["debug"] = debug
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())


@app.command()
@handles_errors
def probe(
    json_out: bool = typer.Option(False, "--json", help="Print the snapshot as JSON."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the JSON snapshot to FILE (atomically)."),
    no_torch: bool = typer.Option(False, "--no-torch", help="Do not ask torch (faster)."),
    nvml_timeout: float = typer.Option(10.0, "--nvml-timeout", min=0.1, help="Seconds to wait for NVML."),
    fmt: str = typer.Option("rich", "--format", help="rich or json."),
    from_file: Path | None = typer.Option(None, "--from", help="Show a saved snapshot instead of probing."),
) -> None:
    """Read this machine: GPUs, RAM, CPU, disk and accelerator abilities.

    Example: advisor probe --json > $(hostname).json
    """
    from advisor.commands.probe import run_probe

    run_probe(json_out=json_out, output=output, with_torch=not no_torch, nvml_timeout=nvml_timeout, fmt=fmt,
              from_file=from_file)


@app.command()
@handles_errors
def schema(
    name: str = typer.Argument("snapshot", help="snapshot or result"),
) -> None:
    """Print the JSON Schema of a document advisor writes.

    Example: advisor schema snapshot > snapshot.schema.json
    """
    from advisor.commands.schema import print_schema

    print_schema(name)


@app.command()
@handles_errors
def models(
    words: list[str] | None = typer.Argument(None, metavar="[QUERY] | show NAME|PATH",
                                             help="Search words, or `show` and a model name, directory or file."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List or search the built-in catalog, or show the full spec of any model advisor can read.

    Examples: advisor models qwen3 · advisor models show llama3.1:8b · advisor models show ./model.gguf
    """
    from advisor.commands.models import run_models

    run_models(list(words or []), json_out)


def main() -> int:
    """Console-script entry point."""
    try:
        app()
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_BAD_INPUT
    return 0
