"""``sessioncoder models``: every offline model in use, where it is, whether it verifies, its licence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from .errors import ModelError


def models_command(
    asr_model: Annotated[
        str, typer.Option("--asr-model", help="The ASR model to check: tiny.en, base or a directory.")
    ] = "base",
    pyannote_model: Annotated[
        Path | None,
        typer.Option("--pyannote-model", help="Also check a local pyannote.audio pipeline directory."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the models sessioncoder uses, joining Whisper base on first use, and verify them."""
    from .modelstore import cache_dir, list_models

    rows = list_models(asr_model=asr_model, pyannote_model=pyannote_model)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        console = Console()
        table = Table(title=f"sessioncoder models (cache: {cache_dir()})")
        for column in ("task", "model", "version", "status", "licence"):
            table.add_column(column, overflow="fold")
        for r in rows:
            status = f"[green]{r.status}[/]" if r.ok else f"[red]{r.status}[/]"
            table.add_row(r.task, r.name, r.version or "", status, r.licence)
        console.print(table)
        for r in rows:
            console.print(f"  {r.name}: {r.path or '-'}", highlight=False, soft_wrap=True)
    bad = [r for r in rows if not r.ok]
    if bad:
        raise ModelError(f"{len(bad)} model(s) missing or not verified: " + ", ".join(r.name for r in bad))


def register(app: typer.Typer) -> None:
    app.command("models")(models_command)
