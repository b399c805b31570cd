"""``sessioncoder codebook list | show | validate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sessioncoder.cli.app import codebook_app, console
from sessioncoder.coding.codebook import available_codebooks, load_codebook

# --------------------------------------------------------------------------- codebooks


@codebook_app.command("list")
def codebook_list() -> None:
    """The codebooks shipped with sessioncoder."""
    table = Table("id", "version", "codes", "name")
    for book_id in available_codebooks():
        book = load_codebook(book_id)
        table.add_row(book.id, book.version, str(len(book.codes)), book.name)
    console.print(table)


@codebook_app.command("show")
def codebook_show(
    book_id: Annotated[str, typer.Argument(help="Codebook id or path.")] = "stics",
    code_id: Annotated[str | None, typer.Argument(help="Show one code in full.")] = None,
) -> None:
    """A codebook's codes by group, or one code's definition, examples and rules."""
    book = load_codebook(book_id)
    if code_id:
        spec = book.code(code_id)
        console.print(f"[bold]{spec.id}[/bold] — {spec.name} ({spec.group}, {spec.applies_to})")
        console.print(spec.definition)
        for ex in spec.examples:
            console.print(f"  + {ex.text}")
        for ex in spec.counter_examples:
            console.print(f"  − {ex.text}")
        console.print(
            f"rules: {', '.join(r.id for r in spec.rules) or '—'}; STICS area: {spec.stics_area or '—'}; MITI: {spec.miti or '—'}"
        )
        return
    console.print(f"[bold]{book.id}[/bold] {book.version}: {book.name}")
    for group_id, group in book.groups.items():
        table = Table(title=group.name, title_justify="left")
        table.add_column("id")
        table.add_column("applies to")
        table.add_column("definition")
        for spec in book.codes_in_group(group_id):
            table.add_row(spec.id, spec.applies_to, spec.definition)
        console.print(table)


@codebook_app.command("validate")
def codebook_validate(path: Annotated[Path, typer.Argument(help="Codebook YAML to check.")]) -> None:
    """Check a codebook file; errors name the file, line and field."""
    book = load_codebook(path if path.suffix in {".yaml", ".yml"} or path.exists() else str(path))
    rules = sum(len(c.rules) for c in book.codes.values())
    console.print(f"{path}: ok — codebook {book.id} {book.version}, {len(book.codes)} codes, {rules} rules")
