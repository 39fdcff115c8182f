"""The advisor's own errors. Only the CLI turns them into one stderr line and an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_NO_FIT = 1
EXIT_BAD_INPUT = 2
EXIT_CANNOT_TELL = 3
EXIT_NOT_MEASURABLE = 4  # advisor verify: the engine, library, format or layout cannot be measured here
EXIT_RUN_FAILED = 5  # advisor verify: the measuring process timed out, was killed or failed
EXIT_ABOVE_ESTIMATE = 6  # advisor verify: a run peaked above the estimate


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


class DoesNotFitError(AdvisorError):
    """advisor verify: the plan does not fit here, so it is not run (unless --force)."""

    exit_code = EXIT_NO_FIT


class NotMeasurableError(AdvisorError):
    """advisor verify: what would be measured cannot be here (a library not installed, an engine, format or layout
    verify does not build)."""

    exit_code = EXIT_NOT_MEASURABLE


class RunFailedError(AdvisorError):
    """advisor verify: the measuring process did not finish (time limit, killed, crashed)."""

    exit_code = EXIT_RUN_FAILED
