"""Reports: a coded session's outputs (JSON, markdown summary, utterance CSV, the HTML report), the
comparison of sessions over time, and redaction. Imports the core modules, ``coding`` and ``profile``.
"""

from __future__ import annotations

import os
from pathlib import Path

from sessioncoder.coding.codebook import Codebook
from sessioncoder.coding.reliability import trust_status
from sessioncoder.fileio import write_text_atomic
from sessioncoder.report.markdown import render_markdown
from sessioncoder.report.tables import utterances_csv
from sessioncoder.schema import CodedSession

ALL_FORMATS = ("json", "md", "csv", "html")


def output_paths(out_dir: Path, stem: str) -> dict[str, Path]:
    return {
        "json": out_dir / f"{stem}.session.json",
        "md": out_dir / f"{stem}.md",
        "csv": out_dir / f"{stem}.utterances.csv",
        "html": out_dir / f"{stem}.html",
    }


def write_outputs(
    session: CodedSession,
    codebook: Codebook,
    out_dir: Path,
    stem: str,
    formats: tuple[str, ...] | list[str] = ALL_FORMATS,
    redact: bool = False,
    embed_audio: bool = False,
) -> list[Path]:
    """Render every format first, then write each atomically, so a failure leaves no partial set.

    The session JSON is the data itself and is never redacted; ``redact``
    applies to the human formats (markdown, CSV, HTML).
    """
    paths = output_paths(out_dir, stem)
    shown, title = session, stem
    if redact and any(f in formats for f in ("md", "csv", "html")):
        from sessioncoder.report.redact import Redactor

        redactor = Redactor()
        shown, title = redactor.redact_session(session), redactor.redact_filename(stem)
    rendered: dict[str, str] = {}
    # Measured on the codebook as the session was coded with it; read once for both human formats.
    trust = trust_status(session, codebook)
    if "json" in formats:
        rendered["json"] = session.model_dump_json(indent=2) + "\n"
    if "md" in formats:
        rendered["md"] = render_markdown(shown, codebook, title=title, trust=trust)
    if "csv" in formats:
        rendered["csv"] = utterances_csv(shown)
    if "html" in formats:
        from sessioncoder.report.html import render_html

        audio = Path(session.source.path)
        audio_href = None
        embed_path = None
        # A redacted report never links the recording: the link would carry its file name (often the
        # client's) and lead to the unredacted voices. Embedding stays possible on request.
        if session.source.kind == "audio" and audio.exists() and (embed_audio or not redact):
            if embed_audio:
                embed_path = audio
            else:
                audio_href = os.path.relpath(audio.resolve(), out_dir.resolve())
        rendered["html"] = render_html(
            shown, codebook, audio_href=audio_href, embed_audio_path=embed_path, trust=trust
        )
    written = []
    # The session JSON last: once it is on disk, every report of the session is too, so a run killed
    # in between is seen as unfinished and the session is coded again (batch resume relies on it).
    for fmt, text in sorted(rendered.items(), key=lambda item: item[0] == "json"):
        write_text_atomic(paths[fmt], text)
        written.append(paths[fmt])
    return written
