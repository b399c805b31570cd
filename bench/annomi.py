"""AnnoMI (training split, ../shared/data/annomi) read as utterances with reference codes.

Mapping (data README): question -> mi.open_question / mi.closed_question by the
annotators' question subtype; reflection -> mi.simple_reflection /
mi.complex_reflection by subtype; therapist input information ->
mi.giving_information; advice -> mi.persuade (mi.advice_with_permission when
permission is asked); change -> client.change_talk; sustain -> client.sustain_talk.
AnnoMI-full.csv has one row per annotator for some utterances; the first
annotator's row is used.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from sessioncoder.schema import Utterance

from . import SHARED_DATA

ANNOMI = SHARED_DATA / "annomi" / "AnnoMI-full.csv"
_PERMISSION = re.compile(
    r"\b(would it be (ok|okay|alright|all right)|is it (ok|okay|alright)|do you mind if|can i (share|suggest|give|tell|offer)|"
    r"may i|would you like (me to|to hear|some)|if you('d| would) like|if it's (ok|okay|alright))\b",
    re.IGNORECASE,
)
CODES = (
    "mi.open_question", "mi.closed_question", "mi.simple_reflection", "mi.complex_reflection",
    "mi.giving_information", "mi.persuade", "mi.advice_with_permission", "client.change_talk", "client.sustain_talk",
)  # fmt: skip


@dataclass
class AnnoSession:
    transcript_id: str
    utterances: list[Utterance]
    reference: list[set[str]]
    main_behaviour: list[
        str
    ]  # therapist: reflection|question|therapist_input|other; client: change|neutral|sustain


def reference_codes(row: dict[str, str]) -> set[str]:
    codes: set[str] = set()
    if row["interlocutor"] == "therapist":
        if row["question_exists"] == "True":
            codes.add("mi.open_question" if row["question_subtype"] == "open" else "mi.closed_question")
        if row["reflection_exists"] == "True":
            codes.add(
                "mi.complex_reflection" if row["reflection_subtype"] == "complex" else "mi.simple_reflection"
            )
        if row["therapist_input_exists"] == "True":
            subtype = row["therapist_input_subtype"]
            if subtype == "information":
                codes.add("mi.giving_information")
            elif subtype == "advice":
                permission = _PERMISSION.search(row["utterance_text"])
                codes.add("mi.advice_with_permission" if permission else "mi.persuade")
    else:
        if row["client_talk_type"] == "change":
            codes.add("client.change_talk")
        elif row["client_talk_type"] == "sustain":
            codes.add("client.sustain_talk")
    return codes


def load_annomi(path: Path = ANNOMI) -> list[AnnoSession] | None:
    if not path.exists():
        return None
    sessions: dict[str, AnnoSession] = {}
    seen: set[tuple[str, str]] = set()
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            key = (row["transcript_id"], row["utterance_id"])
            if key in seen:
                continue
            seen.add(key)
            s = sessions.setdefault(row["transcript_id"], AnnoSession(row["transcript_id"], [], [], []))
            role = "officer" if row["interlocutor"] == "therapist" else "client"
            s.utterances.append(
                Utterance(
                    index=len(s.utterances),
                    speaker=row["interlocutor"],
                    role=role,
                    text=row["utterance_text"],
                )
            )
            s.reference.append(reference_codes(row))
            s.main_behaviour.append(
                row["main_therapist_behaviour"] if role == "officer" else row["client_talk_type"]
            )
    return list(sessions.values())
