"""Officer/client role assignment for the speakers of a transcript.

Speaker labels decide first ("Officer", "PO (Jane)", "Service user 2", ...).
When labels say nothing (diarised audio gives "SPEAKER_00", "SPEAKER_01"), the
role is inferred from what each speaker says: a supervising officer asks most
of the questions, talks to the client in the second person, uses supervision
vocabulary ("your order", "appointment", "since I last saw you") and usually
opens and closes the session; the client talks about themselves. Every
speaker gets a role, a confidence in [0, 1] and short human-readable reasons,
so a reader can see why and overrule it with ``officer=`` (``--officer``).

>>> role_from_label("PO (Jane)"), role_from_label("Service user 2"), role_from_label("Speaker 1")
('officer', 'client', None)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from sessioncoder.errors import InputError
from sessioncoder.schema import Role, SpeakerInfo, Transcript

# Single-word labels, compared case-insensitively against the label's words.
OFFICER_LABELS: frozenset[str] = frozenset(
    {
        "officer",
        "po",
        "om",
        "practitioner",
        "worker",
        "facilitator",
        "counsellor",
        "counselor",
        "therapist",
        "interviewer",
        "supervisor",
        "probation officer",
        "offender manager",
        "case manager",
        "probation practitioner",
        "key worker",
        "support worker",
    }
)
CLIENT_LABELS: frozenset[str] = frozenset(
    {
        "client",
        "offender",
        "service user",
        "su",
        "probationer",
        "interviewee",
        "supervisee",
        "person on probation",
        "pop",
    }
)

_LABEL_WORD = re.compile(r"[a-z]+")

# Below this confidence the choice is reported as weak evidence.
WEAK_CONFIDENCE = 0.7


def _phrases_in(words: list[str], labels: frozenset[str]) -> bool:
    """True when any label (one or more words) occurs as consecutive words."""
    joined = " " + " ".join(words) + " "
    return any(f" {label} " in joined for label in labels)


def role_from_label(label: str) -> Role | None:
    """The role a speaker label names, or None when it names none (e.g. "Speaker 1", "SPEAKER_00").

    Numbered and qualified labels count: "Officer 1", "PO (Jane)", "Jane (PO)",
    "Probation Officer", "SU2". A label naming both roles is ambiguous: None.
    """
    words = _LABEL_WORD.findall(label.lower())
    if not words:
        return None
    is_officer = _phrases_in(words, OFFICER_LABELS)
    is_client = _phrases_in(words, CLIENT_LABELS)
    if is_officer and not is_client:
        return "officer"
    if is_client and not is_officer:
        return "client"
    return None


# --------------------------------------------------------------------------- text cues

_QUESTION_START = re.compile(
    r"^\s*(?:so,?\s+|and\s+|ok(?:ay)?,?\s+|right,?\s+)?"
    r"(?:what|how|why|when|where|who|which|do|does|did|are|is|was|were|have|has|had|can|could|would|will|shall|should)\b",
    re.IGNORECASE,
)
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself|you're|you've|you'd|you'll)\b", re.IGNORECASE)
_FIRST_PERSON = re.compile(r"\b(?:i|me|my|mine|myself|i'm|i've|i'd|i'll)\b", re.IGNORECASE)

# Things a supervising officer says to the person supervised.
OFFICER_PHRASES: tuple[str, ...] = (
    "your order",
    "your licence",
    "your license",
    "your probation",
    "your conditions",
    "your sentence",
    "community order",
    "unpaid work",
    "appointment",
    "since i last saw you",
    "since we last met",
    "since last time",
    "since last week",
    "last time we",
    "probation",
    "licence",
    "breach",
    "homework",
    "agenda",
    "today i'd like",
    "i'd like us to",
    "i'd like to",
    "let's",
    "how have you been",
    "how have things been",
    "how are things",
    "what do you think",
    "how do you feel",
    "it sounds like",
    "sounds like you",
    "so you're saying",
    "what i'm hearing",
    "well done",
    "next week",
    "next time",
    "see you",
    "to sum up",
    "summarise",
    "sentence plan",
    "part of my job",
)
# Things the person supervised says about themselves.
CLIENT_PHRASES: tuple[str, ...] = (
    "my mate",
    "my mates",
    "me mates",
    "my mum",
    "my girlfriend",
    "my boyfriend",
    "my missus",
    "my kids",
    "i dunno",
    "i don't know",
    "not my fault",
    "i was only",
    "i got",
    "i had a",
    "i went",
    "i've been",
    "i was",
    "the pub",
    "a drink",
    "a few drinks",
    "i'll try",
    "yeah",
)


def _count_phrases(text: str, phrases: tuple[str, ...]) -> dict[str, int]:
    lowered = " " + re.sub(r"[^a-z' ]+", " ", text.lower().replace("’", "'")) + " "
    lowered = re.sub(r"\s+", " ", lowered)
    counts: dict[str, int] = {}
    for phrase in phrases:
        n = lowered.count(f" {phrase} ")
        if n:
            counts[phrase] = n
    return counts


def _is_question(text: str) -> bool:
    stripped = text.strip()
    return stripped.endswith("?") or "?" in stripped or bool(_QUESTION_START.match(stripped))


@dataclass
class _Cues:
    """What one speaker's utterances show, and an officer-likeness score from it."""

    speaker: str
    utterances: int = 0
    words: int = 0
    questions: int = 0
    second_person: int = 0
    first_person: int = 0
    officer_phrases: dict[str, int] = field(default_factory=dict)
    client_phrases: dict[str, int] = field(default_factory=dict)
    opens: bool = False
    closes: bool = False

    @property
    def question_rate(self) -> float:
        return self.questions / self.utterances if self.utterances else 0.0

    def per_100_words(self, n: int) -> float:
        return 100.0 * n / self.words if self.words else 0.0

    def score(self) -> float:
        """Officer-likeness: positive for officer-like talk, negative for client-like talk.

        Each term is bounded so no one cue dominates: question rate (0..1),
        you-vs-I balance (-1..1), supervision vs client phrases per 100
        words (each capped), opening and closing the session.
        """
        you_vs_i = (self.second_person - self.first_person) / max(1, self.second_person + self.first_person)
        officer_vocab = min(1.0, self.per_100_words(sum(self.officer_phrases.values())) / 3.0)
        client_vocab = min(1.0, self.per_100_words(sum(self.client_phrases.values())) / 3.0)
        return (
            2.0 * self.question_rate
            + 1.0 * you_vs_i
            + 1.0 * officer_vocab
            - 1.0 * client_vocab
            + 0.3 * self.opens
            + 0.3 * self.closes
        )


def _cues(transcript: Transcript, speaker_ids: list[str]) -> dict[str, _Cues]:
    cues = {sid: _Cues(sid) for sid in speaker_ids}
    substantive = [u for u in transcript.utterances if u.text.strip()]
    for u in substantive:
        c = cues[u.speaker]
        c.utterances += 1
        c.words += len(u.text.split())
        c.questions += _is_question(u.text)
        c.second_person += len(_SECOND_PERSON.findall(u.text))
        c.first_person += len(_FIRST_PERSON.findall(u.text))
        for phrase, n in _count_phrases(u.text, OFFICER_PHRASES).items():
            c.officer_phrases[phrase] = c.officer_phrases.get(phrase, 0) + n
        for phrase, n in _count_phrases(u.text, CLIENT_PHRASES).items():
            c.client_phrases[phrase] = c.client_phrases.get(phrase, 0) + n
    if substantive:
        cues[substantive[0].speaker].opens = True
        cues[substantive[-1].speaker].closes = True
    return cues


def _evidence(c: _Cues) -> list[str]:
    """Short reasons, in words a trainer would use."""
    out = [f"asks {c.questions} questions in {c.utterances} turns ({c.question_rate:.0%})"]
    out.append(
        f"'you' {c.per_100_words(c.second_person):.1f} vs 'I' {c.per_100_words(c.first_person):.1f} per 100 words"
    )
    for name, phrases in (
        ("supervision vocabulary", c.officer_phrases),
        ("self-report phrases", c.client_phrases),
    ):
        if phrases:
            top = sorted(phrases.items(), key=lambda kv: -kv[1])[:3]
            out.append(f"{name} x{sum(phrases.values())} (" + ", ".join(f"'{p}'" for p, _ in top) + ")")
    if c.opens:
        out.append("opens the session")
    if c.closes:
        out.append("closes the session")
    return out


def _confidence(margin: float) -> float:
    """Map a score margin to a confidence in [0.5, 1): 0 margin is a coin toss."""
    return round(0.5 + 0.5 * math.tanh(margin / 1.0), 3)


# --------------------------------------------------------------------------- speakers


def build_speakers(transcript: Transcript) -> list[SpeakerInfo]:
    """SpeakerInfo for every speaker in order of first appearance, with words and talk time.

    Existing entries (roles from an earlier step, say) are kept and their
    counts refreshed; speakers named only in ``transcript.speakers`` stay at the end.
    """
    existing = {s.id: s.model_copy(deep=True) for s in transcript.speakers}
    order: list[str] = []
    words: dict[str, int] = {}
    seconds: dict[str, float] = {}
    timed = transcript.timed
    for u in transcript.utterances:
        if u.speaker not in words:
            order.append(u.speaker)
            words[u.speaker] = 0
            seconds[u.speaker] = 0.0
        words[u.speaker] += u.word_count
        if u.duration is not None:
            seconds[u.speaker] += u.duration
    speakers: list[SpeakerInfo] = []
    for sid in order:
        info = existing.pop(sid, None) or SpeakerInfo(id=sid)
        info.words = words[sid]
        info.talk_seconds = round(seconds[sid], 3) if timed else info.talk_seconds
        speakers.append(info)
    speakers.extend(existing.values())
    return speakers


def _resolve_officer(officer: str, speaker_ids: list[str], source: str) -> str:
    if officer in speaker_ids:
        return officer
    folded = {sid.casefold(): sid for sid in speaker_ids}
    if officer.casefold() in folded:
        return folded[officer.casefold()]
    raise InputError(
        f"{source}: --officer {officer!r} is not a speaker here (speakers: {', '.join(speaker_ids) or 'none'})"
    )


def assign_roles(transcript: Transcript, officer: str | None = None) -> Transcript:
    """A copy of ``transcript`` with a role, confidence and evidence for every speaker and utterance.

    Order of authority: ``officer=`` (a speaker id; the others become
    clients), then speaker labels, then text cues. With two speakers the one
    with the higher officer-likeness score is the officer and the margin sets
    the confidence; a small margin still picks but warns. One speaker only:
    role unknown and a warning.
    """
    out = transcript.model_copy(deep=True)
    out.speakers = build_speakers(out)
    source = out.source.path
    ids = [s.id for s in out.speakers]
    by_id = {s.id: s for s in out.speakers}
    active = [s.id for s in out.speakers if s.words > 0] or ids

    def set_role(sid: str, role: Role, confidence: float, evidence: list[str]) -> None:
        info = by_id[sid]
        info.role = role
        info.role_confidence = max(0.0, min(1.0, confidence))
        info.role_evidence = evidence

    if officer is not None:
        chosen = _resolve_officer(officer, ids, source)
        client = _main_client(out, [sid for sid in ids if sid != chosen])
        for sid in ids:
            if sid == chosen:
                set_role(sid, "officer", 1.0, ["set by --officer"])
            elif sid == client:
                set_role(sid, "client", 1.0, [f"--officer named {chosen}"])
            else:
                set_role(sid, "other", 0.8, [f"--officer named {chosen}; {client} speaks more"])
    else:
        _infer(out, ids, active, set_role)

    roles = {s.id: s.role for s in out.speakers}
    for u in out.utterances:
        u.role = roles.get(u.speaker, "unknown")
    return out


def _main_client(out: Transcript, candidates: list[str]) -> str | None:
    """Of ``candidates``, the speaker with the most words (first to speak on a tie)."""
    words = {s.id: s.words for s in out.speakers}
    return max(candidates, key=lambda sid: words.get(sid, 0), default=None)


def _infer(out: Transcript, ids: list[str], active: list[str], set_role) -> None:
    source = out.source.path
    labelled = {sid: role_from_label(sid) for sid in ids}
    for sid, role in labelled.items():
        if role is not None:
            set_role(sid, role, 1.0, [f"speaker label {sid!r}"])
    unlabelled = [sid for sid in ids if labelled[sid] is None]
    if not unlabelled:
        return

    if len(active) < 2 and all(labelled[sid] is None for sid in ids):
        for sid in ids:
            set_role(sid, "unknown", 0.0, ["only one speaker: no one to compare with"])
        out.warnings.append(f"{source}: only one speaker detected; roles are unknown")
        return

    cues = _cues(out, ids)
    scores = {sid: cues[sid].score() for sid in ids}
    known = {labelled[sid] for sid in ids if labelled[sid] is not None}

    if len(ids) == 2 and len(unlabelled) == 1:
        # One side is labelled: the other is the complementary role.
        sid = unlabelled[0]
        other = next(s for s in ids if s != sid)
        role: Role = "client" if labelled[other] == "officer" else "officer"
        set_role(sid, role, 0.95, [f"the other speaker is labelled {other!r}", *_evidence(cues[sid])])
        return

    candidates = [sid for sid in unlabelled if sid in active]
    if "officer" in known:
        # An officer is already labelled: the unlabelled speaker who talks most is the client (unless
        # one is labelled client), the rest are others.
        client = None if "client" in known else _main_client(out, unlabelled)
        for sid in unlabelled:
            if sid == client:
                set_role(sid, "client", 0.8, ["another speaker is labelled officer", *_evidence(cues[sid])])
            else:
                set_role(sid, "other", 0.6, ["officer and client are taken", *_evidence(cues[sid])])
        return
    if not candidates:
        for sid in unlabelled:
            set_role(sid, "unknown", 0.0, ["no speech from this speaker"])
        return

    ranked = sorted(candidates, key=lambda s: -scores[s])
    top = ranked[0]
    runner_up = ranked[1] if len(ranked) > 1 else None
    margin = scores[top] - (scores[runner_up] if runner_up else 0.0)
    confidence = _confidence(margin)
    set_role(
        top, "officer", confidence, [f"most officer-like (score {scores[top]:.2f})", *_evidence(cues[top])]
    )
    # One client: the speaker (after the officer) who talks most; anyone else (an interpreter, a
    # second worker) is "other".
    client = None if "client" in known else _main_client(out, [sid for sid in candidates if sid != top])
    for sid in unlabelled:
        if sid == top:
            continue
        if sid not in active:
            set_role(sid, "unknown", 0.0, ["no speech from this speaker"])
            continue
        own_margin = scores[top] - scores[sid]
        evidence = [f"less officer-like than {top} (score {scores[sid]:.2f})", *_evidence(cues[sid])]
        if sid == client:
            set_role(
                sid, "client", _confidence(own_margin) * (1.0 if len(candidates) == 2 else 0.8), evidence
            )
        else:
            set_role(sid, "other", 0.5, [f"{client or 'a labelled client'} speaks more", *evidence])
    if len(candidates) > 2:
        out.warnings.append(
            f"{source}: {len(candidates)} speakers; {top} taken as officer, {client} as client and the "
            "others as other speakers, check with --officer"
        )
    if confidence < WEAK_CONFIDENCE:
        out.warnings.append(
            f"{source}: weak evidence for roles ({top} taken as officer, confidence {confidence:.2f}); "
            f"check and use --officer SPEAKER_ID to override"
        )
