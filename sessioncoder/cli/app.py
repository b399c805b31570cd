"""The typer application every command module registers on, and the consoles and options they share."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from sessioncoder.version import __version__

app = typer.Typer(
    name="sessioncoder",
    help="Code recorded probation supervision sessions (STICS / MI) offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
codebook_app = typer.Typer(help="List, show and validate codebooks.", no_args_is_help=True)
app.add_typer(codebook_app, name="codebook")

console = Console()
err_console = Console(stderr=True)

CodebookOption = Annotated[
    str, typer.Option("--codebook", "-c", help="Codebook id (see `sessioncoder codebook list`) or YAML path.")
]
NoModelOption = Annotated[
    bool,
    typer.Option(
        "--no-model",
        help="Do not use the trained models (the MI model, and the code model that reads its embeddings).",
    ),
]
NoCodeModelOption = Annotated[
    bool,
    typer.Option(
        "--no-code-model", help="Do not use the trained code model (models/stics) beside the rules."
    ),
]


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"sessioncoder {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """sessioncoder: listens to supervision sessions and tells you how skilfully they were run."""
