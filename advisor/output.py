"""Where output goes: the rich console (colour on a terminal, plain when piped), JSON on stdout, and the one
stderr line (plus the env form for `check --format env`) that every error becomes."""

from __future__ import annotations

import sys
from typing import Any

import typer

_state: dict[str, Any] = {"debug": False, "env_model": None, "json": False, "quiet": False}


def env_on_error(model: str) -> None:
    """From here on, an error also prints the env form (`check --format env`): every outcome sets the variables."""
    _state["env_model"] = model


def fail(message: str, code: int) -> typer.Exit:
    """Print one line on stderr (and the env form on stdout, for `check --format env`); the Exit to raise."""
    line = " ".join(message.split("\n"))
    if _state["env_model"] is not None:
        from advisor.results import error_env

        sys.stdout.write(error_env(line, code, _state["env_model"]))
        sys.stdout.flush()
    sys.stderr.write(f"advisor: {line}\n")
    sys.stderr.flush()
    return typer.Exit(code)


PIPE_WIDTH = 1000  # piped output: wide enough that no table cuts a name or a number ("…"); grep finds every row


def console(stderr: bool = False) -> Any:
    """A rich console: colour on a terminal, plain text when piped (never cut to 80 columns); NO_COLOR and
    FORCE_COLOR honoured by rich; COLUMNS, when set, wins."""
    import os

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not os.environ.get("COLUMNS") and not (hasattr(stream, "isatty") and stream.isatty()):
        width = PIPE_WIDTH
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def emit_json(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


ASCII = {"×": "x", "·": "-", "█": "#", "▓": "=", "▒": "+", "░": ".", "✔": "OK", "✘": "X", "≈": "~", "≥": ">=",
         "≤": "<=", "…": "...", "→": "->", "—": "-", "–": "-", "━": "-", "─": "-", "┃": "|", "│": "|", "╇": "+",
         "┼": "+", "╭": "+", "╮": "+", "╰": "+", "╯": "+", "┏": "+", "┓": "+", "┳": "+"}


def _ascii_fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    bad = error.object[error.start:error.end]
    return "".join(ASCII.get(ch, "?") for ch in bad), error.end


def install_ascii_fallback() -> None:
    """On a stream that cannot encode what advisor prints (PYTHONIOENCODING=ascii, a C locale), print ASCII
    stand-ins ("x" for "×", "#" for "█", "OK" for "✔") instead of failing."""
    import codecs

    codecs.register_error("advisor-ascii", _ascii_fallback)
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "utf-8"
        try:
            "×█✔≥".encode(encoding)
        except (UnicodeEncodeError, LookupError):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors="advisor-ascii")
