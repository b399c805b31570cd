"""Corrections: a trainer's index,add,remove edits change the codes, the profile and the audit trail."""

from __future__ import annotations

import pytest
from test_report_sample import make_codebook, make_session

from sessioncoder.errors import InputError
from sessioncoder.research.rescore import apply_corrections, read_corrections


@pytest.fixture(scope="module")
def codebook():
    return make_codebook()


@pytest.fixture
def session():
    return make_session()


def _csv(tmp_path, text: str):
    path = tmp_path / "edits.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_add_and_remove_recompute_the_profile(session, codebook, tmp_path):
    before = session.profile.miti
    edits = _csv(
        tmp_path,
        "index,add,remove,by,note\n"
        "12,mi.complex_reflection,mi.simple_reflection,JB,adds the meaning\n"
        "18,,mi.persuade,,\n",
    )
    corrected = apply_corrections(session, edits, codebook, by="trainer")
    u12, u18 = corrected.utterances[12], corrected.utterances[18]
    assert u12.has("mi.complex_reflection") and not u12.has("mi.simple_reflection")
    added = next(c for c in u12.codes if c.code == "mi.complex_reflection")
    assert (added.source, added.confidence) == ("human", 1.0)
    assert not u18.has("mi.persuade")
    after = corrected.profile.miti
    assert after.complex_reflections == before.complex_reflections + 1
    assert after.simple_reflections == before.simple_reflections - 1
    assert after.non_adherent == before.non_adherent - 1
    trail = [(a.action, a.index, a.code, a.by) for a in corrected.audit]
    assert trail == [
        ("remove", 12, "mi.simple_reflection", "JB"),
        ("add", 12, "mi.complex_reflection", "JB"),
        ("remove", 18, "mi.persuade", "trainer"),
    ]
    assert "adds the meaning" in corrected.audit[0].note and "was rule 0.70" in corrected.audit[0].note
    # The input session is untouched, and the result round-trips through JSON with its audit.
    assert session.utterances[18].has("mi.persuade") and not session.audit
    assert type(corrected).from_dict(corrected.to_dict()).audit == corrected.audit


def test_implied_codes_and_confirmations(session, codebook, tmp_path):
    edits = _csv(tmp_path, "index,add,remove\n11,client.procriminal_statement,\n0,structuring.check_in,\n")
    corrected = apply_corrections(session, edits, codebook)
    assert corrected.utterances[11].has("client.procriminal_statement", "topic.procriminal_attitudes")
    implied = [a for a in corrected.audit if a.code == "topic.procriminal_attitudes"]
    assert implied and "implied by client.procriminal_statement" in implied[0].note
    confirmed = [c for c in corrected.utterances[0].codes if c.code == "structuring.check_in"]
    assert len(confirmed) == 1 and confirmed[0].source == "human"
    # Applying the same edits again changes nothing more.
    again = apply_corrections(corrected, edits, codebook)
    assert len(again.audit) == len(corrected.audit)


def test_headerless_file_and_semicolons(session, codebook, tmp_path):
    edits = _csv(tmp_path, "4,relationship.affirmation;relationship.autonomy,\n")
    corrections = read_corrections(edits, codebook, len(session.utterances))
    assert corrections[0].add == ["relationship.affirmation", "relationship.autonomy"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("index,add,remove\n99,mi.open_question,\n", "edits.csv:2: index 99 is out of range"),
        ("index,add,remove\nx,mi.open_question,\n", "edits.csv:2: index 'x' is not a whole number"),
        ("index,add,remove\n1,mi.nonsense,\n", "edits.csv:2: unknown code id(s) mi.nonsense"),
        ("index,add,remove\n1,,\n", "edits.csv:2: nothing to add or remove"),
        ("index,add,remove\n1,mi.open_question,mi.open_question\n", "both added and removed"),
        ("index,add,colour\n1,mi.open_question,red\n", "unknown column(s) colour"),
        ("", "corrections file is empty"),
    ],
)
def test_bad_corrections_name_file_and_line(session, codebook, tmp_path, text, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        apply_corrections(session, _csv(tmp_path, text), codebook)


def test_missing_file(session, codebook, tmp_path):
    with pytest.raises(InputError, match="not found"):
        apply_corrections(session, tmp_path / "nope.csv", codebook)
