"""A realistic coded supervision session for the report, redaction, rescore and compare tests.

``make_session()`` builds it from a scripted dialogue with hand-assigned codes;
the profile comes from the project's ``compute_profile`` when it exists, or
from a small stand-in here (so these tests ran before the profile module did).
"""

from __future__ import annotations

import math
import struct
import wave
from datetime import UTC, datetime
from pathlib import Path

from sessioncoder.schema import (
    CodeAssignment,
    CodebookRef,
    CodeCount,
    CodedSession,
    Content,
    Evidence,
    MissedOpportunity,
    Miti,
    MitiScore,
    Profile,
    SkillArea,
    SourceInfo,
    SpeakerInfo,
    StructureItem,
    TalkShare,
    TalkTime,
    TopicTime,
    Utterance,
)

CLIENT_NAME = "Darren"

# (speaker, text, [(code, confidence)])
DIALOGUE: list[tuple[str, str, list[tuple[str, float]]]] = [
    (
        "PO",
        "Hi Darren, come in and have a seat. How have things been since last week?",
        [("structuring.check_in", 0.92), ("mi.open_question", 0.9)],
    ),
    (
        "Darren",
        "Not bad. Work's been alright, I did all my shifts at the warehouse.",
        [("topic.employment_education", 0.85), ("client.change_talk", 0.7)],
    ),
    (
        "PO",
        "You've kept every shift, even the early ones. That takes real commitment.",
        [("relationship.affirmation", 0.88), ("topic.employment_education", 0.7)],
    ),
    (
        "PO",
        "Last time we looked at what goes through your head before things kick off. Did you try writing it down?",
        [("structuring.review", 0.9), ("mi.closed_question", 0.85), ("topic.antisocial_pattern", 0.6)],
    ),
    (
        "Darren",
        "Sort of. I wrote one down after a row with my brother on Saturday.",
        [("topic.family_relationships", 0.8)],
    ),
    (
        "PO",
        "What I'd like us to do today is look at that row, and check on your appointments. Anything you want to add?",
        [("structuring.agenda", 0.93), ("mi.closed_question", 0.8), ("relationship.collaboration", 0.55)],
    ),
    ("Darren", "Just the money stuff, my benefits got cut again.", [("topic.finance", 0.82)]),
    (
        "PO",
        "Part of my job is making sure the order is kept, but most of it is helping you get where you want to be.",
        [("relationship.role_clarification", 0.86), ("mi.giving_information", 0.7)],
    ),
    (
        "PO",
        "So tell me about Saturday. What happened with your brother?",
        [("mi.open_question", 0.91), ("topic.family_relationships", 0.8)],
    ),
    (
        "Darren",
        "He was mouthing off about me mum. He deserved a slap to be honest, anyone would have done it.",
        [
            ("client.procriminal_statement", 0.78),
            ("topic.procriminal_attitudes", 0.78),
            ("topic.antisocial_pattern", 0.7),
        ],
    ),
    (
        "PO",
        "When he said that, what went through your head?",
        [("cognitive.model", 0.74), ("mi.open_question", 0.88)],
    ),
    ("Darren", "That he's disrespecting me, in front of everyone.", [("topic.antisocial_pattern", 0.5)]),
    (
        "PO",
        "You thought he was disrespecting you. Is there another way to read what he did?",
        [("cognitive.restructuring", 0.81), ("mi.simple_reflection", 0.7), ("mi.closed_question", 0.6)],
    ),
    (
        "Darren",
        "Maybe he was just wound up about his own stuff. I don't want to end up back in court over him.",
        [("client.change_talk", 0.84), ("topic.probation_conditions", 0.45)],
    ),
    (
        "PO",
        "On one hand he really got to you, and on the other you can see it isn't worth losing everything you've built.",
        [("mi.complex_reflection", 0.83)],
    ),
    ("Darren", "Yeah.", []),
    (
        "PO",
        "Walking away from him on Saturday was a good call; that's exactly the kind of choice that keeps you out of trouble.",
        [("behavioural.reinforcement", 0.87)],
    ),
    (
        "Darren",
        "I still had a few cans after, mind. Calms me down.",
        [("topic.substance_use", 0.86), ("client.sustain_talk", 0.65)],
    ),
    (
        "PO",
        "You need to cut the drinking out, it's going to land you back inside.",
        [("mi.persuade", 0.77), ("topic.substance_use", 0.8)],
    ),
    (
        "Darren",
        "Everyone drinks. It's not a problem.",
        [("client.sustain_talk", 0.72), ("topic.substance_use", 0.7)],
    ),
    (
        "PO",
        "Let's list the ways you could calm down after a row, then think through each one.",
        [("cognitive.problem_solving", 0.79), ("topic.antisocial_pattern", 0.5)],
    ),
    ("Darren", "Go to the gym, or go round to Kelly's I suppose.", [("topic.leisure", 0.66)]),
    (
        "PO",
        "Let's practise it. I'll be your brother mouthing off; you tell me you're leaving.",
        [("cognitive.skill_practice", 0.82)],
    ),
    ("Darren", "I'm not doing this now, I'm off to the gym.", []),
    (
        "PO",
        "That was clear and calm. How did that feel?",
        [("behavioural.reinforcement", 0.58), ("mi.open_question", 0.84)],
    ),
    ("Darren", "Weird, but alright. I could do that.", [("client.change_talk", 0.7)]),
    (
        "PO",
        "Your next appointment is Thursday at ten, and the unpaid work starts on the fourteenth.",
        [("mi.giving_information", 0.8), ("topic.probation_conditions", 0.9)],
    ),
    (
        "PO",
        "If you miss another appointment I have to send a warning. Let's work out how you get here on Thursdays.",
        [("behavioural.authority", 0.76), ("topic.probation_conditions", 0.9)],
    ),
    (
        "Darren",
        "My mate Jay can drop me off, he lives on Acacia Road near me.",
        [("topic.criminal_associates", 0.4)],
    ),
    (
        "PO",
        "Before next time, could you write down one situation where you felt wound up and what you did?",
        [("structuring.homework", 0.9), ("mi.closed_question", 0.7)],
    ),
    (
        "PO",
        "So today you've told me work's going well, you walked away on Saturday, and the drinking is something to keep an eye on.",
        [("structuring.summary", 0.86), ("mi.complex_reflection", 0.52)],
    ),
    ("Darren", "Yeah, fair enough. See you Thursday.", []),
]

GROUP_NAMES = {
    "structuring": "Structuring",
    "relationship": "Relationship building",
    "mi": "MI micro-skills",
    "behavioural": "Behavioural techniques",
    "cognitive": "Cognitive techniques",
    "client": "Client language",
    "topic": "Session content",
}
TOPIC_CATEGORY = {"topic.probation_conditions": "condition", "topic.emotional_wellbeing": "other"}


def make_codebook():
    """The project's STICS codebook when it exists, else a minimal one with the spec's ids."""
    from sessioncoder.coding import codebook as cb

    try:
        return cb.load_codebook("stics")
    except Exception:  # no codebook YAML yet
        pass
    codes = {}
    for code_id in cb.SPEC_CODE_IDS:
        group, name = code_id.split(".", 1)
        codes[code_id] = cb.CodeSpec(
            id=code_id,
            name=name.replace("_", " ").capitalize(),
            group=group,
            applies_to="client" if group == "client" else ("any" if group == "topic" else "officer"),
            definition=f"Definition of {name.replace('_', ' ')}.",
            stics_area=group
            if group in ("structuring", "relationship", "behavioural", "cognitive")
            else None,
            category=TOPIC_CATEGORY.get(code_id, "criminogenic") if group == "topic" else None,
        )
    return cb.Codebook(
        id="stics",
        version="1.0",
        name="STICS",
        groups={g: cb.GroupSpec(name=n) for g, n in GROUP_NAMES.items()},
        skill_areas={
            a: cb.SkillAreaSpec(name=GROUP_NAMES[a])
            for a in ("structuring", "relationship", "behavioural", "cognitive")
        },
        codes=codes,
    )


def _utterances(audio_seconds: float | None = None) -> list[Utterance]:
    utterances, t = [], 1.0
    for i, (speaker, text, codes) in enumerate(DIALOGUE):
        duration = max(1.0, len(text.split()) / 2.6)
        utterances.append(
            Utterance(
                index=i,
                speaker=speaker,
                role="officer" if speaker == "PO" else "client",
                start=round(t, 2),
                end=round(t + duration, 2),
                text=text,
                codes=[
                    CodeAssignment(code=c, confidence=p, source="rule", rule=f"{c}.rule") for c, p in codes
                ],
            )
        )
        t += duration + 0.6
    if audio_seconds:  # squeeze the script into a short recording
        scale = audio_seconds / (t + 1)
        for u in utterances:
            u.start, u.end = round(u.start * scale, 2), round(u.end * scale, 2)
    return utterances


def stand_in_profile(session: CodedSession, codebook) -> Profile:
    """A plain profile from the codes, used only while sessioncoder.profile does not exist."""
    utts = session.utterances
    count = {}
    for u in utts:
        for c in u.codes:
            count[c.code] = count.get(c.code, 0) + 1
    duration = (session.duration or 60.0) / 60
    oq, cq = count.get("mi.open_question", 0), count.get("mi.closed_question", 0)
    sr, cr = count.get("mi.simple_reflection", 0), count.get("mi.complex_reflection", 0)
    q, r = oq + cq, sr + cr
    rq = r / q if q else None
    scores = [
        MitiScore(id="rq", name="Reflection to question ratio", value=rq, display=f"{rq:.2f}:1", fair=1, good=2,
                  rating="good" if rq >= 2 else "fair" if rq >= 1 else "below"),
        MitiScore(id="pct_cr", name="% complex reflections", value=cr / r, display=f"{100 * cr / r:.0f}%", fair=0.4, good=0.5,
                  rating="good" if cr / r >= 0.5 else "fair" if cr / r >= 0.4 else "below"),
        MitiScore(id="pct_oq", name="% open questions", value=oq / q, display=f"{100 * oq / q:.0f}%", fair=0.5, good=0.7,
                  rating="good" if oq / q >= 0.7 else "fair" if oq / q >= 0.5 else "below"),
    ]  # fmt: skip
    adherent = sum(
        count.get(c, 0)
        for c in ("relationship.affirmation", "relationship.autonomy", "relationship.collaboration")
    )
    non_adherent = count.get("mi.persuade", 0) + count.get("mi.confront", 0)
    areas = []
    for area, spec in codebook.skill_areas.items():
        skills = [c.id for c in codebook.codes.values() if c.stics_area == area]
        used = [c for c in skills if count.get(c)]
        evidence = [
            Evidence(index=u.index, code=c.code, start=u.start, speaker=u.speaker, quote=u.text)
            for u in utts
            for c in u.codes
            if c.code in used
        ][:3]
        areas.append(
            SkillArea(id=area, name=spec.name, score=len(used) / len(skills), count=sum(count.get(c, 0) for c in skills),
                      skills_used=used, skills_missing=[c for c in skills if c not in used], evidence=evidence)
        )  # fmt: skip
    topics = []
    topic_seconds = {}
    for u in utts:
        for c in u.codes:
            if c.code.startswith("topic."):
                topic_seconds[c.code] = topic_seconds.get(c.code, 0.0) + (u.duration or 0.0)
    total = sum(u.duration or 0 for u in utts) or 1.0
    for code, secs in topic_seconds.items():
        spec = codebook.codes[code]
        category = spec.category or "other"
        topics.append(TopicTime(topic=code, name=spec.name, criminogenic=category == "criminogenic", category=category,
                                utterances=count[code], minutes=secs / 60, share=secs / total))  # fmt: skip
    share = {
        k: sum(t.share for t in topics if t.category == k) for k in ("criminogenic", "condition", "other")
    }
    structure = []
    for code in (
        "structuring.check_in",
        "structuring.review",
        "structuring.agenda",
        "structuring.homework",
        "structuring.summary",
    ):
        first = next((u for u in utts if u.has(code)), None)
        structure.append(
            StructureItem(code=code, name=codebook.codes[code].name, present=first is not None, count=count.get(code, 0),
                          first_index=first.index if first else None, first_time=first.start if first else None)
        )  # fmt: skip
    procriminal = [u for u in utts if u.has("topic.procriminal_attitudes")]
    missed = [
        MissedOpportunity(kind="change_talk_unreflected", index=25, start=utts[25].start, quote=utts[25].text,
                          explanation="The client said they could do it; no reflection or praise followed.")
    ]  # fmt: skip
    talk = []
    for role in ("officer", "client"):
        mine = [u for u in utts if u.role == role]
        secs = sum(u.duration or 0 for u in mine)
        words = sum(u.word_count for u in mine)
        talk.append(TalkShare(role=role, seconds=secs, share_time=secs / total, words=words,
                              share_words=words / sum(u.word_count for u in utts), utterances=len(mine)))  # fmt: skip
    return Profile(
        duration_minutes=duration,
        duration_basis="time",
        utterances=len(utts),
        talk_time=TalkTime(basis="time", roles=talk),
        code_counts=[CodeCount(code=c, group=c.split(".")[0], count=n, per_10_min=10 * n / duration) for c, n in count.items()],
        miti=Miti(reflections=r, simple_reflections=sr, complex_reflections=cr, questions=q, open_questions=oq,
                  closed_questions=cq, adherent=adherent, non_adherent=non_adherent, scores=scores),
        skill_areas=areas,
        content=Content(basis="time", topics=topics, share_criminogenic=share["criminogenic"], share_conditions=share["condition"],
                        share_other=share["other"], share_untopiced=max(0.0, 1 - sum(share.values())),
                        procriminal_discussed=bool(procriminal),
                        procriminal_evidence=[Evidence(index=u.index, start=u.start, speaker=u.speaker, quote=u.text) for u in procriminal]),
        structure=structure,
        missed_opportunities=missed,
    )  # fmt: skip


def compute(session: CodedSession, codebook) -> Profile:
    try:
        from sessioncoder.profile import compute_profile
    except ImportError:
        return stand_in_profile(session, codebook)
    return compute_profile(session, codebook)


def make_session(audio_path: Path | None = None, audio_seconds: float | None = None) -> CodedSession:
    """The scripted session; with ``audio_path`` it claims that recording as its source."""
    codebook = make_codebook()
    utterances = _utterances(audio_seconds)
    duration = utterances[-1].end + 1.0
    source = SourceInfo(
        path=str(audio_path) if audio_path else "darren_week6.txt",
        sha256="0" * 64,
        kind="audio" if audio_path else "transcript",
        format="wav" if audio_path else "txt",
    )
    session = CodedSession(
        created=datetime(2026, 11, 20, 10, 30, tzinfo=UTC),
        source=source,
        duration=duration,
        speakers=[
            SpeakerInfo(id="PO", role="officer", role_confidence=0.95, role_evidence=["asks most questions"]),
            SpeakerInfo(
                id="Darren",
                role="client",
                role_confidence=0.95,
                role_evidence=["Darren talks about his brother"],
            ),
        ],
        codebooks=[CodebookRef(id=codebook.id, version=codebook.version, sha256=codebook.sha256 or "0" * 64)],
        utterances=utterances,
    )
    session.profile = compute(session, codebook)
    return session


def write_wav(path: Path, seconds: float = 4.0, rate: int = 8000) -> Path:
    """A quiet 220 Hz tone: a tiny real recording for the audio player."""
    frames = b"".join(
        struct.pack("<h", int(3000 * math.sin(2 * math.pi * 220 * i / rate)))
        for i in range(int(seconds * rate))
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return path


def test_sample_session_is_consistent():
    session = make_session()
    assert len(session.utterances) == len(DIALOGUE)
    assert session.profile is not None
    assert all(u.start < u.end for u in session.utterances)
    assert CodedSession.from_dict(session.to_dict()) == session
