"""The advisor's own errors. Only the CLI turns them into one stderr line and an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_NO_FIT = 1
EXIT_BAD_INPUT = 2
EXIT_CANNOT_TELL = 3


class AdvisorError(Exception):
    """Base class: a message meant for a person, and the exit code that goes with it."""

    exit_code = EXIT_BAD_INPUT


class BadInputError(AdvisorError):
    """The user named something we cannot use (a file, a model, an option value)."""


class SnapshotError(BadInputError):
    """A snapshot file is unreadable, malformed, or of a schema we do not read."""


class CannotTellError(AdvisorError):
    """The hardware could not be read well enough to decide."""

    exit_code = EXIT_CANNOT_TELL
