"""What every part of the HTML report shares: escaping, times, colours, code lookups, quotes and links."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sessioncoder.schema import Utterance

if TYPE_CHECKING:  # pragma: no cover
    pass


ASSET_DIR = Path(__file__).resolve().parent
DEFAULT_LOW_CONFIDENCE = 0.6
NON_ADHERENT = ("mi.persuade", "mi.confront")

# Okabe-Ito colours: distinguishable with common colour-vision deficiencies.
GROUP_COLOURS = {
    "structuring": "#0072B2",
    "relationship": "#009E73",
    "mi": "#56B4E9",
    "behavioural": "#E69F00",
    "cognitive": "#CC79A7",
    "client": "#D55E00",
    "topic": "#8a8f98",
}
PAUSE_COLOUR = "#f1f2f4"  # lighter than "no topic": nobody is speaking
CATEGORY_COLOURS = {"criminogenic": "#007a78", "condition": "#c46a00", "other": "#8a8f98", "none": "#d7dae0"}
RATING_COLOURS = {"good": "#1a7f37", "fair": "#9a6700", "below": "#b42318", "n/a": "#6e7781"}
ROLE_COLOURS = {"officer": "#0072B2", "client": "#D55E00", "other": "#009E73", "unknown": "#8a8f98"}

# --------------------------------------------------------------------------- helpers


def esc(value: Any) -> str:
    """Escape text for HTML content and attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def fmt_time(seconds: float | None) -> str:
    """``75.2`` -> ``01:15``; ``3725`` -> ``1:02:05``."""
    if seconds is None:
        return ""
    total = int(max(0.0, seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _fit(label: str, pixels: float, char_px: float = 7.2) -> str:
    """Shorten a chart label to fit ``pixels`` at 13px system font (the full text goes in a tooltip)."""
    limit = max(4, int(pixels / char_px))
    if len(label) <= limit:
        return label
    cut = label[: limit - 1].rsplit(" ", 1)[0] if " " in label[: limit - 1] else label[: limit - 1]
    return cut.rstrip(" (+-,") + "\u2026"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


@dataclass(frozen=True)
class CodeInfo:
    id: str
    name: str
    group: str
    group_name: str
    definition: str


def code_info(codebook: Any, code_id: str) -> CodeInfo:
    """Name, group and definition of a code; falls back to the id for codes the codebook lacks."""
    spec = getattr(codebook, "codes", {}).get(code_id) if codebook is not None else None
    group = getattr(spec, "group", None) or code_id.split(".", 1)[0]
    name = getattr(spec, "name", None) or code_id.split(".", 1)[-1].replace("_", " ").capitalize()
    groups = getattr(codebook, "groups", {}) or {}
    group_spec = groups.get(group)
    group_name = getattr(group_spec, "name", None) or group.capitalize()
    return CodeInfo(code_id, name, group, group_name, getattr(spec, "definition", "") or "")


def low_confidence_threshold(codebook: Any) -> float:
    settings = getattr(codebook, "settings", None)
    return float(getattr(settings, "low_confidence", DEFAULT_LOW_CONFIDENCE))


def needs_review(assignment: Any, threshold: float) -> bool:
    return assignment.source != "human" and assignment.confidence < threshold


def _colour(group: str) -> str:
    return GROUP_COLOURS.get(group, "#6e7781")


def _quote(u: Utterance, code: str | None = None, limit: int = 260) -> str:
    """The utterance text, shortened around the code's evidence when it is long."""
    text = u.text.strip()
    if len(text) <= limit:
        return text
    span = next((c.span for c in u.codes if c.code == code and c.span), None)
    start = 0
    if span is not None:
        start = max(0, min(span[0] - limit // 3, len(text) - limit))
    piece = text[start : start + limit].strip()
    return ("\u2026" if start > 0 else "") + piece + ("\u2026" if start + limit < len(text) else "")


def _ts_link(index: int, start: float | None) -> str:
    """A timestamp that plays the recording from that moment (or jumps to the transcript line)."""
    label = fmt_time(start) if start is not None else f"line {index + 1}"
    data_t = f' data-t="{start:.2f}"' if start is not None else ""
    return f'<a class="ts" href="#u{index}" data-i="{index}"{data_t} title="Play from here">{esc(label)}</a>'
