"""Readers for transcript files: plain text, WebVTT, CSV and sessioncoder's own JSON.

Every reader returns a :class:`~sessioncoder.schema.Transcript` whose
utterances match the input's lines (or cues, or rows) one to one and in order,
so researchers can align their own codes by index. Roles come from speaker
labels where they say (``Officer``, ``PO``, ``Client``, ``SU`` ...), otherwise
from what each speaker says (:mod:`sessioncoder.roles`).

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "s.txt"
>>> _ = p.write_text("[00:05] Officer: How have things been?\\n[00:09] Client: Not bad.\\n")
>>> t = read_transcript(p)
>>> [(u.index, u.role, u.start, u.text) for u in t.utterances]
[(0, 'officer', 5.0, 'How have things been?'), (1, 'client', 9.0, 'Not bad.')]
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from itertools import pairwise
from pathlib import Path

from pydantic import ValidationError

from sessioncoder.errors import InputError
from sessioncoder.fileio import sha256_file
from sessioncoder.roles import assign_roles
from sessioncoder.schema import CodedSession, SourceInfo, Transcript, Utterance, check_schema_version

TRANSCRIPT_SUFFIXES = frozenset({".txt", ".vtt", ".csv", ".json"})

_TIMESTAMP = r"(?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_TXT_LINE = re.compile(r"^\s*(?:\[(?P<ts>[^\]]*)\]\s*)?(?P<speaker>[^:\[\]]{1,60}?)\s*:\s*(?P<text>.*)$")
_TS_VALID = re.compile(rf"^{_TIMESTAMP}$")
_VTT_TIMING = re.compile(rf"^\s*(?P<start>{_TIMESTAMP})\s*-->\s*(?P<end>{_TIMESTAMP})")
_VTT_VOICE = re.compile(r"<v(?:\.[\w.-]+)?\s+([^>]+)>(.*?)(?:</v>|$)", re.DOTALL)
_VTT_TAG = re.compile(r"</?[^>]+>")

# One utterance is at most this long: a 10-minute monologue is about 9 000 characters. A longer line
# is not a transcript line (a pasted file, a log, binary junk) and would only stall the coder.
MAX_LINE_CHARS = 100_000

# Leading bytes of the recordings we read, to tell a user who gave one a transcript's name.
_AUDIO_MAGIC = (
    (b"RIFF", "WAV"), (b"OggS", "Ogg"), (b"fLaC", "FLAC"), (b"ID3", "MP3"), (b"\xff\xfb", "MP3"),
    (b"\xff\xf3", "MP3"), (b"\xff\xf2", "MP3"), (b"\x1aE\xdf\xa3", "WebM"),
)  # fmt: skip


def _audio_kind(raw: bytes) -> str | None:
    for magic, kind in _AUDIO_MAGIC:
        if raw.startswith(magic):
            return kind
    return "MP4/M4A" if raw[4:8] == b"ftyp" else None


def parse_timestamp(value: str) -> float:
    """Seconds from ``hh:mm:ss``, ``mm:ss`` (optionally with a fraction) or a plain number.

    >>> parse_timestamp("01:02:03.5"), parse_timestamp("2:05"), parse_timestamp("12.25")
    (3723.5, 125.0, 12.25)
    """
    value = value.strip().replace(",", ".")
    if not value:
        raise ValueError("empty timestamp")
    parts = value.split(":")
    if len(parts) > 3:
        raise ValueError(f"bad timestamp {value!r}")
    seconds = 0.0
    for part in parts:
        number = float(part)
        if number < 0:
            raise ValueError(f"negative timestamp {value!r}")
        seconds = seconds * 60 + number
    return seconds


def _read_text(path: Path, check_lines: bool = True) -> str:
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a transcript")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not raw.strip():
        raise InputError(f"{path}: file is empty")
    kind = _audio_kind(raw)
    if kind is not None:
        raise InputError(
            f"{path}: not a text transcript: it looks like an audio recording ({kind}); "
            "give it its audio extension to code it as a recording"
        )
    try:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a BOM: Windows "Unicode" text
            text = raw.decode("utf-16")
        elif b"\x00" in raw[:4096]:
            raise InputError(f"{path}: not a text transcript (binary data)")
        else:
            text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text transcript (not UTF-8 text)") from None
    if not text.strip():
        raise InputError(f"{path}: file is empty")
    if "\x00" in text:
        raise InputError(f"{path}: not a text transcript (binary data)")
    if check_lines:
        _check_line_lengths(path, text)
    return text


def _check_line_lengths(path: Path, text: str) -> None:
    if len(text) <= MAX_LINE_CHARS:
        return
    for line_no, line in enumerate(text.splitlines(), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise InputError(
                f"{path}:{line_no}: line is {len(line):,} characters long "
                f"(an utterance is at most {MAX_LINE_CHARS:,}); is this a transcript?"
            )


def _source(path: Path, fmt: str) -> SourceInfo:
    return SourceInfo(path=str(path), sha256=sha256_file(path), kind="transcript", format=fmt)


def _finish(path: Path, fmt: str, utterances: list[Utterance], warnings: list[str]) -> Transcript:
    if not utterances:
        raise InputError(f"{path}: no utterances found (expected lines like 'Officer: text')")
    if not any(u.speaker.strip() for u in utterances):
        raise InputError(f"{path}: no speakers found")
    _estimate_missing_ends(utterances)
    duration = max((u.end for u in utterances if u.end is not None), default=None)
    transcript = Transcript(
        source=_source(path, fmt), utterances=utterances, duration=duration, warnings=warnings
    )
    return assign_roles(transcript)


def _estimate_missing_ends(utterances: list[Utterance]) -> None:
    """Where starts are known but ends are not, an utterance ends where the next begins.

    The last one is given a length from its word count at 150 words a minute,
    at least one second.
    """
    if not utterances or any(u.start is None for u in utterances):
        return
    for current, following in pairwise(utterances):
        if current.end is None:
            current.end = max(current.start or 0.0, following.start or 0.0)
    last = utterances[-1]
    if last.end is None:
        last.end = (last.start or 0.0) + max(1.0, last.word_count / 2.5)


# --------------------------------------------------------------------------- formats


def read_txt(path: Path) -> Transcript:
    """``Speaker: text`` per line, optionally preceded by ``[hh:mm:ss]`` or ``[mm:ss]``; blank lines are skipped."""
    text = _read_text(path)
    utterances: list[Utterance] = []
    warnings: list[str] = []
    timed_lines = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _TXT_LINE.match(line)
        if not match or not match.group("speaker").strip():
            snippet = line.strip()[:40]
            raise InputError(f"{path}:{line_no}: expected 'Speaker: text', got {snippet!r}")
        start = None
        if match.group("ts") is not None:
            ts = match.group("ts").strip()
            if not _TS_VALID.match(ts):
                raise InputError(f"{path}:{line_no}: bad timestamp [{ts}] (expected [hh:mm:ss] or [mm:ss])")
            start = parse_timestamp(ts)
            timed_lines += 1
        utterances.append(
            Utterance(
                index=len(utterances),
                speaker=match.group("speaker").strip(),
                start=start,
                text=match.group("text").strip(),
            )
        )
    if 0 < timed_lines < len(utterances):
        warnings.append(
            f"{path}: only {timed_lines} of {len(utterances)} lines have timestamps; timings ignored"
        )
        for u in utterances:
            u.start = None
    _check_order(path, utterances, warnings)
    return _finish(path, "txt", utterances, warnings)


def _check_order(path: Path, utterances: list[Utterance], warnings: list[str]) -> None:
    starts = [u.start for u in utterances if u.start is not None]
    if any(b < a for a, b in pairwise(starts)):
        warnings.append(f"{path}: timestamps go backwards; talk time uses them as given")


def read_vtt(path: Path) -> Transcript:
    """WebVTT with ``<v Speaker>`` voice tags; one utterance per voice span, in cue order."""
    text = _read_text(path)
    lines = text.splitlines()
    if not lines or not lines[0].lstrip().startswith("WEBVTT"):
        raise InputError(f"{path}:1: not a WebVTT file (first line must be 'WEBVTT')")
    utterances: list[Utterance] = []
    i = 1
    while i < len(lines):
        timing = _VTT_TIMING.match(lines[i])
        if not timing:
            if "-->" in lines[i]:
                raise InputError(f"{path}:{i + 1}: bad cue timing {lines[i].strip()[:40]!r}")
            i += 1
            continue
        cue_line = i + 1
        start, end = parse_timestamp(timing.group("start")), parse_timestamp(timing.group("end"))
        i += 1
        payload: list[str] = []
        while i < len(lines) and lines[i].strip():
            payload.append(lines[i])
            i += 1
        body = "\n".join(payload)
        voices = _VTT_VOICE.findall(body)
        if not voices:
            raise InputError(f"{path}:{cue_line}: cue has no <v Speaker> voice tag")
        for speaker, spoken in voices:
            spoken_text = html.unescape(_VTT_TAG.sub("", spoken)).replace("\n", " ").strip()
            utterances.append(
                Utterance(
                    index=len(utterances), speaker=speaker.strip(), start=start, end=end, text=spoken_text
                )
            )
    return _finish(path, "vtt", utterances, [])


def read_csv(path: Path) -> Transcript:
    """CSV with a header ``speaker,text`` and optional ``start,end`` (seconds or hh:mm:ss)."""
    text = _read_text(path)
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        if "speaker" not in fields or "text" not in fields:
            raise InputError(
                f"{path}:1: CSV header must include 'speaker' and 'text' (got {', '.join(fields) or 'nothing'})"
            )
        reader.fieldnames = fields
        rows = list(reader)
    except csv.Error as exc:
        reason = (
            'unterminated quote (a field opened with " is never closed)' if "end of data" in str(exc) else exc
        )
        raise InputError(f"{path}:{reader.line_num}: malformed CSV: {reason}") from None
    utterances: list[Utterance] = []
    line_numbers = _csv_row_lines(text)
    for row_index, row in enumerate(rows):
        line_no = line_numbers[row_index] if row_index < len(line_numbers) else reader.line_num
        if None in row:
            raise InputError(f"{path}:{line_no}: more fields than the header has")
        speaker = (row.get("speaker") or "").strip()
        if not speaker:
            raise InputError(f"{path}:{line_no}: empty speaker")
        times: dict[str, float | None] = {}
        for key in ("start", "end"):
            value = (row.get(key) or "").strip()
            try:
                times[key] = parse_timestamp(value) if value else None
            except ValueError:
                raise InputError(f"{path}:{line_no}: bad {key} time {value!r}") from None
        utterances.append(
            Utterance(index=len(utterances), speaker=speaker, text=(row.get("text") or "").strip(), **times)
        )
    return _finish(path, "csv", utterances, [])


def _csv_row_lines(text: str) -> list[int]:
    """The line each data row ends on (a quoted field may span lines), for error messages."""
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    lines = []
    for _ in reader:
        lines.append(reader.line_num)
    return lines


def read_json(path: Path) -> Transcript:
    """sessioncoder's own ``.transcript.json`` or ``.session.json`` (codes are dropped: this is for re-coding)."""
    text = _read_text(path, check_lines=False)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(f"{path}: not valid JSON for sessioncoder: nested too deeply") from None
    check_schema_version(data, str(path))
    if not isinstance(data, dict) or "utterances" not in data:
        raise InputError(f"{path}: not a sessioncoder transcript or session JSON (no 'utterances')")
    try:
        if "profile" in data or "codebooks" in data:
            session = CodedSession.model_validate(data)
            transcript = Transcript(
                source=session.source,
                duration=session.duration,
                speakers=session.speakers,
                utterances=session.utterances,
                models=[m for m in session.models if m.task in {"asr", "vad", "diarisation", "roles"}],
            )
        else:
            transcript = Transcript.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InputError(f"{path}: invalid sessioncoder JSON at {loc}: {first['msg']}") from None
    for u in transcript.utterances:
        u.codes = []
    if not transcript.utterances:
        raise InputError(f"{path}: no utterances found")
    return transcript


READERS = {".txt": read_txt, ".vtt": read_vtt, ".csv": read_csv, ".json": read_json}


def read_transcript(path: str | Path) -> Transcript:
    """Read any supported transcript file, chosen by its suffix."""
    path = Path(path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(
            f"{path}: unsupported transcript type {path.suffix or '(none)'} (use .txt, .vtt, .csv or .json)"
        )
    return reader(path)
