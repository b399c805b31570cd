"""Build the STICS dev set from the hand-coded sources in ``coded/``.

Each ``coded/<session>.coded`` file holds one utterance per line::

    # officer: Officer        (header: the speaker labels written to the transcript)
    # client: Client
    O: How have things been since last week? | ci oq
    C: Not bad. |

``O``/``C`` say who speaks; after ``|`` come the human codes as the short
aliases below (one place to read them, so the coding stays legible). The
script writes ``transcripts/<session>.txt`` (``[hh:mm:ss] Speaker: text``, the
times synthetic: 2.6 words a second plus a one-second gap, so topic minutes
have something to add up) and ``gold.csv`` (``session,index,codes,role``, the
format ``sessioncoder agree`` reads).

Two coding conventions of the spec are applied here rather than typed every
time: ``client.procriminal_statement`` implies ``topic.procriminal_attitudes``;
``structuring.summary`` is not a reflection unless marked so. The script also
checks what a coder could forget: every officer line with a question mark has
a question code, client codes sit on client lines, officer codes on officer
lines. Run ``python -m bench.stics_dev.build`` after editing a source.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

HERE = Path(__file__).parent

ALIASES = {
    "ci": "structuring.check_in",
    "rev": "structuring.review",
    "ag": "structuring.agenda",
    "hw": "structuring.homework",
    "sum": "structuring.summary",
    "plan": "structuring.plan_link",
    "role": "relationship.role_clarification",
    "aff": "relationship.affirmation",
    "aut": "relationship.autonomy",
    "col": "relationship.collaboration",
    "oq": "mi.open_question",
    "cq": "mi.closed_question",
    "sr": "mi.simple_reflection",
    "cr": "mi.complex_reflection",
    "gi": "mi.giving_information",
    "awp": "mi.advice_with_permission",
    "pers": "mi.persuade",
    "conf": "mi.confront",
    "rein": "behavioural.reinforcement",
    "dis": "behavioural.disapproval",
    "auth": "behavioural.authority",
    "res": "behavioural.community_resources",
    "model": "cognitive.model",
    "restr": "cognitive.restructuring",
    "psm": "cognitive.prosocial_modelling",
    "ps": "cognitive.problem_solving",
    "prac": "cognitive.skill_practice",
    "ct": "client.change_talk",
    "st": "client.sustain_talk",
    "pcs": "client.procriminal_statement",
    "T:att": "topic.procriminal_attitudes",
    "T:assoc": "topic.criminal_associates",
    "T:sub": "topic.substance_use",
    "T:emp": "topic.employment_education",
    "T:fam": "topic.family_relationships",
    "T:leis": "topic.leisure",
    "T:anti": "topic.antisocial_pattern",
    "T:acc": "topic.accommodation",
    "T:fin": "topic.finance",
    "T:emo": "topic.emotional_wellbeing",
    "T:cond": "topic.probation_conditions",
}
CLIENT_ONLY = {"ct", "st", "pcs"}


def _stamp(seconds: float) -> str:
    s = int(seconds)
    return f"[{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}]"


def parse(path: Path) -> tuple[dict[str, str], list[tuple[str, str, list[str]]]]:
    labels = {"officer": "Officer", "client": "Client"}
    rows: list[tuple[str, str, list[str]]] = []
    errors: list[str] = []
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            if key.strip() in labels:
                labels[key.strip()] = value.strip()
            continue
        who, _, rest = line.partition(":")
        text, _, codes = rest.rpartition("|")
        if who not in ("O", "C") or not text.strip():
            errors.append(f"{path.name}:{n}: expected 'O: text | codes' or 'C: text | codes'")
            continue
        aliases = codes.split()
        for a in aliases:
            if a not in ALIASES:
                errors.append(f"{path.name}:{n}: unknown code alias {a!r}")
            elif who == "O" and a in CLIENT_ONLY:
                errors.append(f"{path.name}:{n}: client code {a} on an officer line")
            elif who == "C" and not a.startswith("T:") and a not in CLIENT_ONLY:
                errors.append(f"{path.name}:{n}: officer code {a} on a client line")
        if who == "O" and "?" in text and not {"oq", "cq"} & set(aliases) and "prac" not in aliases:
            errors.append(f"{path.name}:{n}: officer question without oq/cq")
        full = [ALIASES[a] for a in aliases if a in ALIASES]
        if "client.procriminal_statement" in full and "topic.procriminal_attitudes" not in full:
            full.append("topic.procriminal_attitudes")
        rows.append(("officer" if who == "O" else "client", text.strip(), full))
    if errors:
        sys.exit("\n".join(errors))
    return labels, rows


def build() -> None:
    out = HERE / "transcripts"
    out.mkdir(exist_ok=True)
    gold: list[list[str]] = []
    for path in sorted((HERE / "coded").glob("*.coded")):
        labels, rows = parse(path)
        session = path.stem
        clock = 0.0
        lines = []
        for index, (role, text, codes) in enumerate(rows):
            lines.append(f"{_stamp(clock)} {labels[role]}: {text}")
            clock += len(text.split()) / 2.6 + 1.0
            gold.append([session, str(index), ";".join(codes), role])
        (out / f"{session}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (HERE / "gold.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["session", "index", "codes", "role"])
        writer.writerows(gold)


if __name__ == "__main__":
    build()
