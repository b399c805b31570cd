"""Property tests: no text or bytes crash a transcript reader or the codebook loader.

Whatever a user feeds in, a reader either returns a transcript or raises the
project's InputError (one clear line at the command line); the codebook loader
returns a codebook or raises CodebookError. Anything else would surface as an
"internal error". Valid transcripts built from random speakers and words come
back one to one.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sessioncoder.coding.codebook import Codebook, load_codebook
from sessioncoder.errors import CodebookError, InputError
from sessioncoder.schema import Transcript
from sessioncoder.transcripts import read_transcript

WORK = Path(tempfile.mkdtemp(prefix="sessioncoder-hypothesis-"))
_counter = itertools.count()
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fresh(suffix: str) -> Path:
    # A new name each time: the codebook cache is keyed by path and mtime, and mtimes are coarse.
    return WORK / f"case{next(_counter)}{suffix}"


def _read(data: bytes, suffix: str) -> None:
    path = _fresh(suffix)
    path.write_bytes(data)
    try:
        result = read_transcript(path)
    except InputError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip()
        return
    assert isinstance(result, Transcript) and result.utterances


SUFFIXES = st.sampled_from([".txt", ".vtt", ".csv", ".json"])
# Text with the characters transcripts are made of, so the readers get past their first checks.
_PIECES = [*'Officer Client:,"[]<>v/.-0123456789\n\r\t{}', "WEBVTT", "-->", "<v ", "</v>", "\ufeff", "é"]
TRANSCRIPTISH = st.lists(st.sampled_from(_PIECES), max_size=120).map("".join)


@SETTINGS
@given(text=st.one_of(st.text(max_size=300), TRANSCRIPTISH), suffix=SUFFIXES)
def test_any_text_never_crashes_a_reader(text, suffix):
    _read(text.encode("utf-8"), suffix)


@SETTINGS
@given(data=st.binary(max_size=400), suffix=SUFFIXES)
def test_any_bytes_never_crash_a_reader(data, suffix):
    _read(data, suffix)


@SETTINGS
@given(text=TRANSCRIPTISH)
def test_vtt_shaped_text_never_crashes(text):
    _read(("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n" + text).encode("utf-8"), ".vtt")


SPEAKER = st.sampled_from(["Officer", "Client", "PO", "SU", "Dan", "Speaker 2"])
WORDS = st.lists(
    st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=8), min_size=1, max_size=12
)


@SETTINGS
@given(
    lines=st.lists(st.tuples(SPEAKER, WORDS), min_size=1, max_size=15), crlf=st.booleans(), bom=st.booleans()
)
def test_valid_txt_reads_back_one_to_one(lines, crlf, bom):
    newline = "\r\n" if crlf else "\n"
    text = ("\ufeff" if bom else "") + newline.join(f"{s}: {' '.join(w)}" for s, w in lines) + newline
    path = _fresh(".txt")
    path.write_text(text, encoding="utf-8", newline="")
    transcript = read_transcript(path)
    assert [(u.speaker, u.text) for u in transcript.utterances] == [(s, " ".join(w)) for s, w in lines]


def _load(text: str) -> None:
    path = _fresh(".yaml")
    path.write_text(text, encoding="utf-8")
    try:
        result = load_codebook(path)
    except CodebookError as exc:
        assert str(exc).strip() and "\n" not in str(exc).strip()
        return
    assert isinstance(result, Codebook)


_YAML_PIECES = [
    *"-[]{}'\"\n !&*|>#:0123456789",
    "id",
    "version",
    "extends",
    "codes",
    "mi.persuade",
    "stics",
    "  ",
]
YAMLISH = st.lists(st.sampled_from(_YAML_PIECES), max_size=120).map("".join)


@SETTINGS
@given(text=st.one_of(st.text(max_size=300), YAMLISH))
def test_any_text_never_crashes_the_codebook_loader(text):
    _load(text)


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_CODE_FIELDS = st.sampled_from(
    [
        "name",
        "group",
        "applies_to",
        "definition",
        "rules",
        "examples",
        "implies",
        "miti",
        "stics_area",
        "regex",
    ]
)


@SETTINGS
@given(
    overrides=st.dictionaries(
        st.sampled_from(["mi.persuade", "mi.open_question", "new.code", "Bad Id"]),
        st.dictionaries(_CODE_FIELDS, _VALUES, max_size=4),
        max_size=3,
    ),
    top=st.dictionaries(
        st.sampled_from(["version", "name", "groups", "settings", "skill_areas"]), _VALUES, max_size=2
    ),
)
def test_any_variant_structure_never_crashes_the_codebook_loader(overrides, top):
    data = {"id": "variant", "version": "1", "name": "Variant", "extends": "stics", **top, "codes": overrides}
    _load(yaml.safe_dump(data, allow_unicode=True))
