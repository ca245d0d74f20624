"""Errors every source adapter raises, so assets can report them per ticker or filing."""

from __future__ import annotations


class SourceError(RuntimeError):
    """One ticker (or filing) failed; the message names it and says what went wrong."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class SourceUnavailable(RuntimeError):
    """The upstream answered nothing at all (network down, blocked): fail the whole fetch fast.

    ``retryable`` is True when waiting may help (a rate limit that outlasted the retries), so the
    step's retry policy may try again later; an unreachable network fails at once.
    """

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class SourceConfigError(RuntimeError):
    """A setting needed by the chosen source is missing or wrong."""
