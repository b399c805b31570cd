"""Precision, recall and F1 per code over multi-label utterance codes."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table


def prf(
    predicted: list[set[str]], reference: list[set[str]], codes: Iterable[str]
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for code in codes:
        tp = sum(code in p and code in r for p, r in zip(predicted, reference, strict=True))
        fp = sum(code in p and code not in r for p, r in zip(predicted, reference, strict=True))
        fn = sum(code not in p and code in r for p, r in zip(predicted, reference, strict=True))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[code] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": tp + fn,
            "predicted": tp + fp,
        }
    return out


def prf_table(title: str, scores: dict[str, dict[str, float]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("code", "precision", "recall", "F1", "support", "predicted"):
        table.add_column(column, justify="left" if column == "code" else "right")
    for code, s in scores.items():
        table.add_row(
            code,
            f"{s['precision']:.2f}",
            f"{s['recall']:.2f}",
            f"{s['f1']:.2f}",
            str(int(s["support"])),
            str(int(s["predicted"])),
        )
    macro = sum(s["f1"] for s in scores.values()) / max(1, len(scores))
    table.add_row("macro F1", "", "", f"{macro:.2f}", "", "")
    return table
