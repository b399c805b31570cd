"""Redaction: names, places, phone numbers, dates of birth, addresses and emails leave every text."""

from __future__ import annotations

import pytest
from test_report_sample import CLIENT_NAME, make_session

from sessioncoder.report.redact import ADDRESS, DOB, EMAIL, NAME, PHONE, PLACE, Redactor, looks_like_name


@pytest.fixture(scope="module")
def redactor():
    return Redactor()


@pytest.fixture(scope="module")
def patterns_only():
    return Redactor(use_ner=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ring me on 07700 900123 tomorrow.", f"Ring me on {PHONE} tomorrow."),
        ("My number's +44 7700 900 123.", f"My number's {PHONE}."),
        ("Landline 0113 496 0000 is off.", f"Landline {PHONE} is off."),
        ("Email d.smith+probation@example.co.uk please", f"Email {EMAIL} please"),
        ("DOB: 03/03/1990", f"DOB: {DOB}"),
        ("my date of birth is 12th of May 1988.", f"my date of birth is {DOB}."),
        ("I was born on 3 March 1990 in hospital", f"I was born on {DOB} in hospital"),
        ("He lives at 12 Acacia Road now.", f"He lives at {ADDRESS} now."),
        ("Flat 2, 45 Kings Road", ADDRESS),
        ("postcode LS6 2AB.", f"postcode {ADDRESS}."),
        ("round by Acacia Road", f"round by {ADDRESS}"),
    ],
)
def test_patterns(patterns_only, text, expected):
    assert patterns_only.redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "I had 2 pints on Saturday and went to the gym at 9.",
        "Your appointment is Thursday at ten, in 2 weeks.",
        "On a scale of 1 to 10, how confident are you?",
        "The course runs for 8 weeks from the 14th.",
        "I was up at Crown Court on Monday.",
    ],
)
def test_ordinary_numbers_and_dates_are_kept(patterns_only, text):
    assert patterns_only.redact(text) == text


def test_entities_and_known_names(redactor):
    text = "Hi Darren, my mum Sarah lives in Leeds and Jay came round."
    out = redactor.redact(text)
    for name in ("Darren", "Sarah", "Jay", "Leeds"):
        assert name not in out
    assert NAME in out and PLACE in out
    # A known name is redacted even lower-case, where NER misses it.
    assert Redactor(extra_names=["Kelly Smith"], use_ner=False).redact(
        "went to kelly's, smith was there"
    ) == (f"went to {NAME}'s, {NAME} was there")


def test_speaker_labels():
    assert looks_like_name("Darren") and looks_like_name("Mrs Jones")
    for label in ("SPEAKER_00", "Speaker A", "Officer", "PO", "S1", "Client 2", "A"):
        assert not looks_like_name(label), label


def test_redact_session_covers_every_text(redactor):
    session = make_session()
    session.utterances[5].codes[0].evidence = "ask Darren"
    redacted = redactor.redact_session(session)
    assert redacted is not session and session.utterances[0].text.startswith(
        "Hi Darren"
    )  # original untouched
    dump = redacted.model_dump_json()
    assert CLIENT_NAME not in dump
    assert "Kelly" not in dump and "Acacia Road" not in dump
    assert {s.id for s in redacted.speakers} == {"PO", "Client"}
    assert {u.speaker for u in redacted.utterances} == {"PO", "Client"}
    assert all(not u.words for u in redacted.utterances)
    assert redacted.settings["redacted"] is True
    assert redactor.redact_session(redacted) is redacted  # never twice
    assert len(redacted.utterances) == len(session.utterances)


def test_file_name_is_redacted():
    r = Redactor(extra_names=["Darren Smith"], use_ner=False)
    assert r.redact_filename("darren_smith_week3.wav") == "name_week3.wav"
    assert r.redact_filename("session-2024-05-01.wav") == "session-2024-05-01.wav"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Is her number still (718) 555-0143?", f"Is her number still {PHONE}?"),
        ("Call 1-800-555-0136 or +1 212 555 0199.", f"Call {PHONE} or {PHONE}."),
        ("Cell is 2015550123, no dashes.", f"Cell is {PHONE}, no dashes."),
        ("That's right, 14th of March 1991.", f"That's right, {DOB}."),
        ("It's 30.04.1979.", f"It's {DOB}."),
        ("Tasha from the drug service rang.", f"{NAME} from the drug service rang."),
        ("The DCFS worker is Amanda Price.", f"The DCFS worker is {NAME}."),
        ("Ask for Officer Daniels.", f"Ask for Officer {NAME}."),
        ("I stayed at Chloe's flat.", f"I stayed at {NAME}'s flat."),
        ("We went to Blackpool for the day.", f"We went to {PLACE} for the day."),
        # Everyday words that are also first names, and what is not a place, stay.
        ("Will you ring me? I hope so. Don't worry.", "Will you ring me? I hope so. Don't worry."),
        ("See you in March at the Job Centre.", "See you in March at the Job Centre."),
        ("It was Valentine's Day on the 14th.", "It was Valentine's Day on the 14th."),
    ],
)
def test_patterns_alone_catch_what_the_small_ner_model_misses(patterns_only, text, expected):
    assert patterns_only.redact(text) == expected
