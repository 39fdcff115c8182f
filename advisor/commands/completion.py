"""`advisor completion show|install [SHELL]`: shell completion that says what it changes before changing it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from advisor.errors import BadInputError

SHELLS = ("bash", "zsh", "fish")
PROG, VAR = "advisor", "_ADVISOR_COMPLETE"


def _changes(shell: str) -> list[str]:
    """What installing changes, in the words of the files it touches (as typer's installer writes them)."""
    home = Path.home()
    if shell == "bash":
        script = home / ".bash_completions" / f"{PROG}.sh"
        return [f"write {script} (the completion script)", f"add the line `source '{script}'` to {home / '.bashrc'}"]
    if shell == "zsh":
        return [f"write {home / '.zfunc' / f'_{PROG}'} (the completion script)",
                f"add `fpath+=~/.zfunc; autoload -Uz compinit; compinit` and a zstyle line to {home / '.zshrc'}"]
    return [f"write {home / '.config' / 'fish' / 'completions' / f'{PROG}.fish'} (the completion script)"]


def _shell(name: str | None) -> str:
    if name is None:
        try:
            import shellingham

            name = shellingham.detect_shell()[0]
        except Exception:  # noqa: BLE001 - detection is a convenience; the user can name the shell
            raise BadInputError("cannot tell which shell this is; name it: advisor completion install bash") from None
    name = (name or "").lower()
    if name not in SHELLS:
        raise BadInputError(f"completion for {name!r} is not supported (choose from {', '.join(SHELLS)})")
    return name


def run_show(shell: str | None, json_out: bool = False) -> None:
    from typer._completion_shared import get_completion_script

    name = _shell(shell)
    script = get_completion_script(prog_name=PROG, complete_var=VAR, shell=name)
    if json_out:
        sys.stdout.write(json.dumps({"schema_version": "1.0", "shell": name, "script": script}, indent=2) + "\n")
        return
    sys.stdout.write(script + "\n")


def run_install(shell: str | None, yes: bool, json_out: bool = False) -> int:
    from typer._completion_shared import install

    name = _shell(shell)
    steps = _changes(name)
    if json_out:
        path = str(install(shell=name, prog_name=PROG, complete_var=VAR)[1]) if yes else None
        sys.stdout.write(json.dumps({"schema_version": "1.0", "shell": name, "changes": steps, "installed": path},
                                    indent=2) + "\n")
        return 0
    print(f"Installing {name} completion for advisor will:")
    for step in steps:
        print(f"  - {step}")
    if not yes:
        if not sys.stdin.isatty():
            raise BadInputError("not a terminal: pass --yes to install, or `advisor completion show "
                                f"{name}` to see the script and place it yourself")
        answer = input("Proceed? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Nothing changed.")
            return 0
    _shell_name, written = install(shell=name, prog_name=PROG, complete_var=VAR)
    print(f"Done: {written}. Open a new shell to use it.")
    return 0
