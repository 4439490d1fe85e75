"""Domain errors. The CLI maps each to an exit code; library code raises, never exits or prints."""

from __future__ import annotations


class ReuniteError(Exception):
    """Base class: a failure the user can act on, with a message that says what to do."""

    exit_code = 1


class InputFileError(ReuniteError):
    """An input file cannot be read at all (missing, undecodable, no header). Nothing was stored."""

    exit_code = 2


class WorkspaceError(ReuniteError):
    """No workspace where one was expected, or a workspace too new/damaged to open."""

    exit_code = 4


class LockHeldError(ReuniteError):
    """Another run holds the lock for this stage."""

    exit_code = 5


class UsageError(ReuniteError):
    """A command given options that do not go together, or a value that is not one it takes."""

    exit_code = 2


class NotFoundError(ReuniteError):
    """A record, job or file named on the command line does not exist."""

    exit_code = 6


# Exit code used when a run finished but some input rows or photos were rejected (see the rejects file).
EXIT_REJECTS = 3
