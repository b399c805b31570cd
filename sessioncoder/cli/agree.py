"""Command ``agree``: agreement of the tool with a human coder, or of two human coders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sessioncoder.research.agreement import (
    AgreementReport,
    compare,
    read_coding,
    reliability_of,
    write_report,
)

console = Console()


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def print_report(report: AgreementReport, out: Console = console) -> None:
    """Rich tables: per code, the two confusion matrices and the session-level ICCs."""
    out.print(
        f"[bold]{report.coder_a}[/] against reference [bold]{report.coder_b}[/]: "
        f"{report.n_sessions} session(s), {report.n_utterances} utterances compared"
    )
    if report.only_in_a or report.only_in_b:
        out.print(
            f"[yellow]left out: {report.only_in_a} utterance(s) only in {report.coder_a}, "
            f"{report.only_in_b} only in {report.coder_b}[/]"
        )
    for name, sessions in (
        (report.coder_a, report.sessions_only_in_a),
        (report.coder_b, report.sessions_only_in_b),
    ):
        if sessions:
            out.print(
                f"[yellow]sessions only in {name}: {', '.join(sessions[:10])}{' …' if len(sessions) > 10 else ''}[/]"
            )

    table = Table(title="Per code (utterance level)")
    for col in ("code", "precision", "recall", "F1", "κ", "support", "count A"):
        table.add_column(col, justify="left" if col == "code" else "right")
    for row in report.codes:
        table.add_row(
            row["code"],
            _fmt(row["precision"]),
            _fmt(row["recall"]),
            _fmt(row["f1"]),
            _fmt(row["kappa"]),
            str(row["support"]),
            str(row["count_a"]),
        )
    out.print(table)

    for title, block in (
        ("Main practitioner behaviour (rows: reference, columns: A)", report.practitioner),
        ("Client talk type (rows: reference, columns: A)", report.client),
    ):
        if not block["n"]:
            continue
        matrix = Table(
            title=title,
            caption=f"n={block['n']}  accuracy {_fmt(block['accuracy'])}  macro-F1 {_fmt(block['macro_f1'])}  κ {_fmt(block['kappa'])}",
        )
        matrix.add_column("reference \\ A")
        for label in block["labels"]:
            matrix.add_column(label, justify="right")
        matrix.add_column("F1", justify="right")
        for label, counts in zip(block["labels"], block["matrix"], strict=True):
            matrix.add_row(label, *(str(c) for c in counts), _fmt(block["per_label"][label]["f1"]))
        out.print(matrix)

    icc = Table(title="Session level: ICC(2,1) across sessions")
    for col in ("measure", "sessions", "mean A", "mean ref", "mean |A−ref|", "ICC(2,1)"):
        icc.add_column(col, justify="left" if col == "measure" else "right")
    for row in report.session_icc:
        icc.add_row(
            row["measure"],
            str(row["sessions"]),
            _fmt(row["mean_a"]),
            _fmt(row["mean_b"]),
            _fmt(row["mean_abs_diff"]),
            _fmt(row["icc_2_1"]),
        )
    out.print(icc)


def register(app: typer.Typer) -> None:
    @app.command("agree")
    def agree(
        coder_a: Annotated[
            Path,
            typer.Argument(
                help="The tool's output folder (*.session.json) or a coder's CSV (session,index,codes)."
            ),
        ],
        coder_b: Annotated[
            Path, typer.Argument(help="The reference coder's CSV (session,index,codes[,role]).")
        ],
        out: Annotated[
            Path | None,
            typer.Option(
                "--out", help="Write PREFIX.json, PREFIX.codes.csv, PREFIX.sessions.csv, PREFIX.icc.csv."
            ),
        ] = None,
        codebook: Annotated[
            str, typer.Option("--codebook", help="Codebook id or YAML that code ids must belong to.")
        ] = "stics",
        reliability_out: Annotated[
            Path | None,
            typer.Option(
                "--reliability-out",
                help="Write the per-code figures for the report's 'how far to trust these codes' "
                "(save as NAME.reliability.json beside codebook NAME.yaml; A must be the tool).",
            ),
        ] = None,
        measured_on: Annotated[
            str | None,
            typer.Option("--measured-on", help="What the figures come from, as the report should say it."),
        ] = None,
    ) -> None:
        """Agreement per code (P/R/F1, Cohen's κ), confusion matrices and session-level ICC(2,1).

        Compares A with reference B over the utterances both contain. The session
        of a *.session.json file is its name without `.session.json`.
        """
        from sessioncoder.coding.codebook import load_codebook

        book = load_codebook(codebook)
        a = read_coding(coder_a)
        b = read_coding(coder_b)
        book.check_ids(a.all_codes(), str(coder_a))
        book.check_ids(b.all_codes(), str(coder_b))
        report = compare(a, b, code_order=list(book.codes))
        print_report(report)
        if out is not None:
            for path in write_report(report, out):
                console.print(f"wrote {path}")
        if reliability_out is not None:
            described = measured_on or (
                f"{report.n_sessions} session(s), {report.n_utterances} utterances coded by {report.coder_b}"
            )
            console.print(f"wrote {reliability_of(report, book, described).save(reliability_out)}")
