"""Errors meant for people: what failed, why, and what to do about it."""

from __future__ import annotations


class SevtuiError(Exception):
    """A failure the user can act on; the CLI prints it, the TUI shows it.

    `message` says what failed and why; `hint` says what to do, in words that fit
    every front end. `exit_code` is what the CLI exits with (1 for failures, 2 for bad input).
    """

    exit_code = 1

    def __init__(self, message: str, hint: str = "", cli_hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.cli_hint = cli_hint
        """What the command line adds (its flags); other front ends leave it out."""

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class UsageError(SevtuiError):
    """Bad input from the user (arguments, names, values): exit code 2."""

    exit_code = 2


class ConfigError(UsageError):
    """config.toml is invalid; `problems` holds one readable line per problem."""

    def __init__(self, problems: list[str], hint: str = "") -> None:
        super().__init__("\n".join(problems), hint)
        self.problems = problems


class CommandTimeout(SevtuiError):
    """A command overran its deadline and was killed; `partial_output` is what it printed."""

    def __init__(self, message: str, partial_output: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.partial_output = partial_output
