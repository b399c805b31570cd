"""The ``sessioncoder`` command line: one module per command group, all on one typer app.

May import every other part of the package; nothing imports it.

Bad input ends with one line on stderr and exit code 2 (no traceback unless
``--debug``); an interrupted run exits 130.
"""

from __future__ import annotations

import os
import sys

import click
import typer

from sessioncoder.cli import agree, code, codebook, models, report
from sessioncoder.cli.app import app, err_console
from sessioncoder.errors import SessionCoderError

# code and codebook declare their commands on the app; the others register theirs.
for _module in (models, agree, report):
    _module.register(app)

__all__ = ["app", "code", "codebook", "main"]

# typer 0.2x parses with its own copy of click, whose exceptions are not click's: catch both, or an
# unknown option is reported as an internal error with exit 1. (Older typer raises click's own.)
_USAGE_ERRORS = (
    click.ClickException,
    next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"),
)
_EXITS = (click.exceptions.Exit, typer.Exit)
_ABORTS = (click.exceptions.Abort, typer.Abort)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning input errors into one line and exit code 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("SESSIONCODER_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    try:
        # Without standalone mode click returns an Exit's code instead of calling sys.exit.
        result = app(args=args, prog_name="sessioncoder", standalone_mode=False)
        if isinstance(result, int):
            return result
    except SessionCoderError as exc:
        if debug:
            raise
        err_console.print(f"sessioncoder: error: {exc}", highlight=False, soft_wrap=True, markup=False)
        return exc.exit_code
    except _EXITS as exc:
        return exc.exit_code
    except _ABORTS:
        err_console.print("sessioncoder: interrupted")
        return 130
    except KeyboardInterrupt:
        err_console.print("sessioncoder: interrupted")
        return 130
    except _USAGE_ERRORS as exc:
        exc.show()
        return exc.exit_code
    except Exception as exc:
        if debug:
            raise
        err_console.print(
            f"sessioncoder: internal error: {exc.__class__.__name__}: {exc} (run with --debug for the traceback)",
            highlight=False, soft_wrap=True, markup=False,
        )  # fmt: skip
        return 1
    return 0
