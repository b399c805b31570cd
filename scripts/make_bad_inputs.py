"""Write the bad-input corpus under tests/fixtures/bad_inputs/ and its manifest.json.

Every case is a small file (two are 1 MB lines, which git compresses to a few
KB) and one manifest entry: the file, the command to run on it, whether a
serious tool should refuse it (``error``: one line on stderr, exit 2, no output
written) or read it gracefully (``ok``: exit 0, with what must be true of the
result), and why. ``tests/test_bad_inputs.py`` runs every entry.

The audio is synthesised with numpy (a seeded generator). Re-running this
script gives the same cases; only the Ogg files (a random stream serial) and the
float WAV (libsndfile's PEAK chunk has a time stamp) differ in a few bytes.

    python scripts/make_bad_inputs.py
"""

from __future__ import annotations

import io
import json
import shutil
import wave
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "bad_inputs"

GOOD_LINES = [
    ("Officer", "How have things been since last week?"),
    ("Client", "Not bad, I went to all my appointments."),
    ("Officer", "Well done, that really shows commitment."),
]
GOOD_TXT = "".join(f"{s}: {t}\n" for s, t in GOOD_LINES)
GOOD_CSV = "speaker,text,start,end\n" + "".join(
    f'{s},"{t}",{i * 4},{i * 4 + 4}\n' for i, (s, t) in enumerate(GOOD_LINES)
)
GOOD_VTT = "WEBVTT\n\n" + "".join(
    f"{i + 1}\n00:00:{i * 4:02d}.000 --> 00:00:{i * 4 + 4:02d}.000\n<v {s}>{t}</v>\n\n"
    for i, (s, t) in enumerate(GOOD_LINES)
)
GOOD_TRANSCRIPT_JSON = {
    "schema_version": "1.0",
    "source": {"path": "s.txt", "sha256": "0" * 64, "kind": "transcript", "format": "txt"},
    "utterances": [
        {"index": i, "speaker": s, "role": "officer" if s == "Officer" else "client", "text": t}
        for i, (s, t) in enumerate(GOOD_LINES)
    ],
}

# Commands, with {file} the case's file, {out} an empty output folder, {good} a valid transcript.
CODE = ["code", "{file}", "--out-dir", "{out}", "--no-model"]
CODE_WITH_BOOK = ["code", "{good}", "--out-dir", "{out}", "--no-model", "--codebook", "{file}"]
VALIDATE = ["codebook", "validate", "{file}"]
REPORT = ["report", "{file}", "--out-dir", "{out}"]

CASES: list[dict] = []


def case(name: str, data: bytes | str, expect: str, message: str | None, why: str, args=CODE, **check):
    path = OUT / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    entry = {"file": name, "args": args, "expect": expect, "why": why}
    if message is not None:
        entry["message"] = message
    if check:
        entry["check"] = check
    CASES.append(entry)


def helper(name: str, data: str) -> None:
    """A file that a case refers to but that is not a case itself."""
    path = OUT / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data, encoding="utf-8")


# --------------------------------------------------------------------------- audio bytes


def _voice_like(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Harmonics of a wandering 120-220 Hz pitch with syllable-rate loudness: speech-shaped, not speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = 170 + 50 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 6))
    envelope = np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    return (0.2 * tone * envelope + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def _encode(samples: np.ndarray, fmt: str, subtype: str | None = None, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _wav_header_claiming(seconds_declared: float, seconds_present: float, rate: int = 16000) -> bytes:
    """A PCM WAV whose header declares more data than the file holds (a copy cut short)."""
    present = (_voice_like(seconds_present, rate) * 32767).astype("<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.setnframes(int(seconds_declared * rate))
        handle.writeframesraw(b"")
    header = bytearray(buffer.getvalue()[:44])
    data_bytes = int(seconds_declared * rate) * 2
    header[4:8] = (36 + data_bytes).to_bytes(4, "little")
    header[40:44] = data_bytes.to_bytes(4, "little")
    return bytes(header) + present


def make_audio_cases() -> None:
    voice = _voice_like(3.0)
    ogg = _encode(voice, "OGG", "VORBIS")
    flac = _encode(voice, "FLAC")
    wav = _encode(voice[:16000], "WAV", "PCM_16")
    case("audio/empty.wav", b"", "error", "empty file", "zero-length recording")
    case("audio/empty.ogg", b"", "error", "empty file", "zero-length recording")
    case("audio/empty.mp3", b"", "error", "empty file", "zero-length recording")
    case("audio/header_only.wav", wav[:44], "error", "no audio could be decoded", "WAV header, no samples")
    case(
        "audio/truncated.wav",
        _wav_header_claiming(6.0, 1.5),
        "error",
        "truncated",
        "header says 6 s, file holds 1.5 s",
    )
    case("audio/truncated.ogg", ogg[: len(ogg) * 2 // 5], "error", "truncated", "Ogg copy cut at 40%")
    case("audio/truncated.flac", flac[: len(flac) * 2 // 5], "error", "truncated", "FLAC copy cut at 40%")
    case("audio/cut_in_header.flac", flac[:30], "error", "not an audio file", "FLAC cut inside its header")
    for suffix in ("wav", "mp3", "ogg", "flac", "m4a"):
        case(
            f"audio/transcript_as.{suffix}",
            GOOD_TXT,
            "error",
            "not an audio file",
            f"a transcript saved under .{suffix}",
        )
    rng = np.random.default_rng(1)
    case("audio/random_bytes.m4a", rng.bytes(4000), "error", "not an audio file", "random bytes")
    case(
        "audio/silence.wav",
        _encode(np.zeros(16000 * 4, np.float32), "WAV", "PCM_16"),
        "error",
        "silent",
        "4 s of digital silence",
    )
    case(
        "audio/too_short.wav",
        _encode(voice[:8000], "WAV", "PCM_16"),
        "error",
        "too short",
        "half a second of sound",
    )
    nan = voice.copy()
    nan[::3] = np.nan
    case(
        "audio/nan_samples.wav",
        _encode(nan, "WAV", "FLOAT"),
        "error",
        "invalid samples",
        "float WAV holding NaN samples",
    )
    # The reverse: recordings under a transcript's extension.
    for suffix, data in (("txt", ogg), ("csv", wav), ("vtt", flac), ("json", wav)):
        case(
            f"transcripts/recording_as.{suffix}",
            data,
            "error",
            "looks like an audio recording",
            f"a recording saved under .{suffix}",
        )


# --------------------------------------------------------------------------- transcripts


def make_transcript_cases() -> None:
    t = "transcripts/"
    case(t + "empty.txt", b"", "error", "file is empty", "zero-length transcript")
    case(t + "blank_lines.txt", "\n  \n\t\n", "error", "file is empty", "only whitespace")
    case(t + "empty.csv", b"", "error", "file is empty", "zero-length CSV")
    case(t + "empty.vtt", b"", "error", "file is empty", "zero-length WebVTT")
    case(t + "empty.json", b"", "error", "file is empty", "zero-length JSON")
    latin1 = GOOD_TXT.replace("Not bad", "Caf\u00e9 was shut").encode("latin-1")
    case(t + "invalid_utf8.txt", latin1, "error", "not UTF-8", "Latin-1 bytes")
    case(
        t + "invalid_utf8.csv",
        GOOD_CSV.replace("Not", "N\u00f6t").encode("latin-1"),
        "error",
        "not UTF-8",
        "Latin-1 bytes",
    )
    case(
        t + "invalid_utf8.vtt",
        GOOD_VTT.replace("Not", "N\u00f6t").encode("latin-1"),
        "error",
        "not UTF-8",
        "Latin-1 bytes",
    )
    case(t + "nul_bytes.txt", GOOD_TXT.replace("Client", "Cli\x00ent"), "error", "binary data", "NUL bytes")
    case(
        t + "zip_as.txt", b"PK\x03\x04" + bytes(60), "error", "not a text transcript", "a .docx/.zip renamed"
    )
    # Accepted gracefully: these are how ordinary editors save text on Windows.
    ok = {"utterances": 3, "first_speaker": "Officer", "first_role": "officer"}
    case(t + "bom.txt", "\ufeff" + GOOD_TXT, "ok", None, "UTF-8 BOM (Notepad)", **ok)
    case(t + "crlf.txt", GOOD_TXT.replace("\n", "\r\n"), "ok", None, "CRLF line ends", **ok)
    case(t + "cr_only.txt", GOOD_TXT.replace("\n", "\r"), "ok", None, "old Mac CR line ends", **ok)
    case(
        t + "bom_crlf.csv",
        "\ufeff" + GOOD_CSV.replace("\n", "\r\n"),
        "ok",
        None,
        "Excel CSV: BOM and CRLF",
        **ok,
    )
    case(
        t + "bom_crlf.vtt",
        "\ufeff" + GOOD_VTT.replace("\n", "\r\n"),
        "ok",
        None,
        "WebVTT with BOM and CRLF",
        **ok,
    )
    case(t + "utf16.txt", GOOD_TXT.encode("utf-16"), "ok", None, "UTF-16 with BOM (Notepad 'Unicode')", **ok)
    case(t + "bom.json", "\ufeff" + json.dumps(GOOD_TRANSCRIPT_JSON), "ok", None, "JSON with a BOM", **ok)
    # 1 MB lines.
    words = "and then I said " * 65536
    case(
        t + "one_mb_utterance.txt",
        "Officer: " + words + "\nClient: ok\n",
        "error",
        "characters long",
        "a 1 MB utterance",
    )
    case(
        t + "one_mb_line.txt",
        "x" * (1 << 20) + "\n",
        "error",
        "characters long",
        "a 1 MB line, no speaker",
    )
    case(
        t + "one_mb_field.csv",
        "speaker,text\nOfficer," + "y" * (1 << 20) + "\n",
        "error",
        "characters long",
        "a 1 MB CSV field",
    )
    # Malformed plain text.
    case(
        t + "no_speaker.txt",
        "just some words\nwith no speaker labels\n",
        "error",
        "expected 'Speaker: text'",
        "no labels",
    )
    case(
        t + "bad_timestamp.txt",
        "[12:xx] Officer: hello\n",
        "error",
        "bad timestamp",
        "timestamp not hh:mm:ss",
    )
    case(
        t + "timestamp_only.txt",
        "[00:01]\n[00:05]\n",
        "error",
        "expected 'Speaker: text'",
        "timestamps, no text",
    )
    case(
        t + "label_too_long.txt",
        "A" * 80 + ": hello\n",
        "error",
        "expected 'Speaker: text'",
        "80-char speaker",
    )
    case(
        t + "empty_labels.txt",
        ": hello\n: again\n",
        "error",
        "expected 'Speaker: text'",
        "empty speaker labels",
    )
    case(t + "notes.docx", GOOD_TXT, "error", "unsupported input type .docx", "unsupported extension")
    case(t + "no_extension", GOOD_TXT, "error", "unsupported input type (none)", "no extension")
    # WebVTT.
    case(
        t + "no_header.vtt", GOOD_VTT.replace("WEBVTT\n", ""), "error", "not a WebVTT file", "no WEBVTT line"
    )
    no_voices = GOOD_VTT.replace("<v Officer>", "").replace("<v Client>", "").replace("</v>", "")
    case(t + "no_voices.vtt", no_voices, "error", "no <v Speaker> voice tag", "cues without voices")
    case(t + "header_only.vtt", "WEBVTT\n\n", "error", "no utterances found", "no cues")
    case(
        t + "bad_cue_timing.vtt",
        "WEBVTT\n\n00:00:xx --> 00:00:04\n<v A>hi</v>\n",
        "error",
        "bad cue timing",
        "bad timing",
    )
    # CSV.
    case(
        t + "missing_columns.csv",
        "who,said\nOfficer,hello\n",
        "error",
        "must include 'speaker' and 'text'",
        "wrong header",
    )
    case(
        t + "no_text_column.csv",
        "speaker,start\nOfficer,0\n",
        "error",
        "must include 'speaker' and 'text'",
        "no text column",
    )
    case(
        t + "semicolons.csv",
        "speaker;text\nOfficer;hello\n",
        "error",
        "must include 'speaker' and 'text'",
        "; delimiter",
    )
    case(t + "header_only.csv", "speaker,text\n", "error", "no utterances found", "header, no rows")
    case(
        t + "extra_fields.csv",
        "speaker,text\nOfficer,hello,there,you\n",
        "error",
        "more fields than the header",
        "row too long",
    )
    case(t + "empty_speaker.csv", "speaker,text\n,hello\n", "error", "empty speaker", "row without speaker")
    case(
        t + "bad_time.csv",
        "speaker,text,start\nOfficer,hello,soon\n",
        "error",
        "bad start time",
        "start not a time",
    )
    case(
        t + "negative_time.csv",
        "speaker,text,start,end\nOfficer,hello,0,-3\n",
        "error",
        "bad end time",
        "negative time",
    )
    case(
        t + "unterminated_quote.csv",
        'speaker,text\nOfficer,"hello there\nClient,fine\nOfficer,good\n',
        "error",
        "unterminated quote",
        "a quote opened and never closed swallows the rest",
    )
    # JSON.
    j = "json/"
    case(j + "not_json.json", "{oops", "error", "not valid JSON", "not JSON")
    case(j + "truncated.json", json.dumps(GOOD_TRANSCRIPT_JSON)[:120], "error", "not valid JSON", "cut short")
    case(
        j + "other_schema.json",
        json.dumps({"name": "x", "items": []}),
        "error",
        "no 'utterances'",
        "another schema",
    )
    case(j + "json_list.json", "[1, 2, 3]", "error", "no 'utterances'", "a list")
    newer = {**GOOD_TRANSCRIPT_JSON, "schema_version": "2.0"}
    case(j + "newer_schema.json", json.dumps(newer), "error", "newer sessioncoder", "schema_version 2.0")
    wrong = json.loads(json.dumps(GOOD_TRANSCRIPT_JSON))
    wrong["utterances"][1]["index"] = "second"
    case(j + "wrong_type.json", json.dumps(wrong), "error", "utterances.1.index", "index not a number")
    extra = json.loads(json.dumps(GOOD_TRANSCRIPT_JSON))
    extra["utterances"][0]["colour"] = "blue"
    case(
        j + "unknown_field.json",
        json.dumps(extra),
        "error",
        "utterances.0.colour",
        "a field the schema lacks",
    )
    case(
        j + "empty_utterances.json",
        json.dumps({**GOOD_TRANSCRIPT_JSON, "utterances": []}),
        "error",
        "no utterances found",
        "no utterances",
    )
    case(
        j + "deep_nesting.json", "[" * 100_000 + "]" * 100_000, "error", "nested too deeply", "100 000 levels"
    )
    case(
        j + "not_a_session.json",
        json.dumps(GOOD_TRANSCRIPT_JSON),
        "error",
        "not a coded session",
        "a transcript given to report",
        args=REPORT,
    )
    session_newer = {**GOOD_TRANSCRIPT_JSON, "schema_version": "3.1", "codebooks": [], "profile": None}
    case(
        j + "newer_session.json",
        json.dumps(session_newer),
        "error",
        "newer sessioncoder",
        "report on schema 3.1",
        args=REPORT,
    )


# --------------------------------------------------------------------------- codebooks

BOOK_HEAD = 'id: {id}\nversion: "1.0"\nname: Test variant\nextends: stics\n'
THINKING = """codes:
  cognitive.thinking_report:
    name: Thinking report
    group: cognitive
    applies_to: officer
    definition: Walks through a thinking report with the client.
    rules:
      - id: thinking_report
        {rule}
"""


def book(name: str, body: str, message: str | None, why: str, expect: str = "error", args=VALIDATE) -> None:
    case("codebooks/" + name, body, expect, message, why, args=args)


def make_codebook_cases() -> None:
    head = BOOK_HEAD.format(id="variant")
    ok_rule = 'regex: ["\\\\bthinking report\\\\b"]'
    book(
        "valid_variant.yaml",
        head + THINKING.format(rule=ok_rule),
        None,
        "control: a valid variant",
        expect="ok",
    )
    book(
        "bom_crlf.yaml",
        ("\ufeff" + head + THINKING.format(rule=ok_rule)).replace("\n", "\r\n"),
        None,
        "BOM and CRLF",
        expect="ok",
    )
    dup = head + "codes:\n  mi.persuade:\n    definition: One.\n  mi.persuade:\n    definition: Two.\n"
    book("duplicate_code_id.yaml", dup, "duplicate key 'mi.persuade'", "the same code id twice")
    dup_rule = (
        THINKING.format(rule=ok_rule) + "      - id: thinking_report\n        phrases: [thinking report]\n"
    )
    book(
        "duplicate_rule_id.yaml", head + dup_rule, "duplicate rule id 'thinking_report'", "two rules, one id"
    )
    helper(
        "codebooks/cycle_b.yaml",
        BOOK_HEAD.format(id="cycle_b").replace("extends: stics", "extends: cycle_a.yaml"),
    )
    book(
        "cycle_a.yaml",
        BOOK_HEAD.format(id="cycle_a").replace("extends: stics", "extends: cycle_b.yaml"),
        "cycle",
        "a extends b extends a",
    )
    book(
        "self_extends.yaml",
        BOOK_HEAD.format(id="self").replace("extends: stics", "extends: self_extends.yaml"),
        "cycle",
        "extends itself",
    )
    book(
        "invalid_regex.yaml",
        head + THINKING.format(rule='regex: ["(unclosed"]'),
        "invalid regex",
        "regex does not compile",
    )
    book(
        "invalid_regex_code.yaml",
        head + THINKING.format(rule='regex: ["[z-a]"]'),
        "invalid regex",
        "bad regex, given to code --codebook",
        args=CODE_WITH_BOOK,
    )
    typo = head + "codes:\n  mi.persuade:\n    definiton: A typo of definition.\n"
    book("unknown_field.yaml", typo, "definiton", "a misspelt field")
    book("unknown_top_field.yaml", head + "colour: red\ncodes: {}\n", "colour", "an unknown top-level field")
    book("malformed.yaml", "id: [oops\n", "malformed YAML", "unbalanced bracket")
    book("tabs.yaml", head + "codes:\n\tmi.persuade: {}\n", "malformed YAML", "a tab indent")
    book("top_level_list.yaml", "- id: x\n", "must be a YAML mapping", "a list, not a mapping")
    book("empty.yaml", "", "codebook file is empty", "zero-length codebook")
    book(
        "python_tag.yaml",
        head + "codes: !!python/object/apply:os.system ['echo pwned']\n",
        "malformed YAML",
        "a Python tag (must never run)",
    )
    book(
        "bad_code_id.yaml",
        head + "codes:\n  Bad-Id:\n    name: x\n    group: mi\n    applies_to: any\n    definition: x\n",
        "must look like 'group.name'",
        "id shape",
    )
    book(
        "unknown_group.yaml",
        head + THINKING.format(rule=ok_rule).replace("group: cognitive", "group: nowhere"),
        "unknown group",
        "group not declared",
    )
    book(
        "bad_pattern.yaml",
        head + THINKING.format(rule='patterns: [[{"LOWERR": "thinking"}]]'),
        "invalid spaCy pattern",
        "bad token pattern",
    )
    book(
        "no_matcher.yaml",
        head + THINKING.format(rule="confidence: 0.5"),
        "needs at least one of",
        "a rule with no matcher",
    )
    book(
        "confidence_range.yaml",
        head + THINKING.format(rule=ok_rule + "\n        confidence: 1.5"),
        "less than or equal to 1",
        "confidence 1.5",
    )
    book(
        "extends_unknown.yaml",
        BOOK_HEAD.format(id="x").replace("stics", "nosuchbook"),
        "unknown codebook id",
        "extends an unknown id",
    )
    book(
        "extends_missing_file.yaml",
        BOOK_HEAD.format(id="x").replace("stics", "not_here.yaml"),
        "codebook file not found",
        "extends a missing file",
    )
    book(
        "invalid_utf8.yaml",
        (head + "description: caf\u00e9\n").encode("latin-1"),
        "cannot read codebook",
        "Latin-1 bytes",
    )
    minimal = 'id: tiny\nversion: "1"\nname: Tiny\ngroups:\n  mi:\n    name: MI\ncodes: {}\n'
    book("missing_spec_ids.yaml", minimal, "lacks the spec's code ids", "drops the spec's codes")
    book(
        "implies_unknown.yaml",
        head + "codes:\n  mi.persuade:\n    implies: [mi.nothing]\n",
        "implies unknown code",
        "implies a missing code",
    )


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    make_transcript_cases()
    make_audio_cases()
    make_codebook_cases()
    manifest = OUT / "manifest.json"
    manifest.write_text(json.dumps(CASES, indent=1) + "\n", encoding="utf-8")
    errors = sum(c["expect"] == "error" for c in CASES)
    print(f"{len(CASES)} cases ({errors} to refuse, {len(CASES) - errors} to accept) in {OUT}")


if __name__ == "__main__":
    main()
