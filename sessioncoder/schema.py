"""The artefacts that flow between stages, as pydantic models.

Every stage reads one of these and writes the next, and each one round-trips
through JSON, so any stage can be re-run alone from what the previous one
saved::

    recording -> Transcript (words, turns, utterances) -> CodedSession (codes, profile)

Example:

>>> u = Utterance(index=0, speaker="Officer", role="officer", text="How have things been?")
>>> u.codes.append(CodeAssignment(code="mi.open_question", confidence=0.9, source="rule", rule="question.open"))
>>> Utterance.from_dict(u.to_dict()) == u
True
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from sessioncoder.fileio import write_text_atomic

SCHEMA_VERSION = "1.0"


def check_schema_version(data: object, where: str) -> None:
    """Refuse, with one line, an artefact written by a newer sessioncoder (a higher major schema version).

    Minor versions only add optional fields, so an older or same-major file is read as it is.
    """
    from sessioncoder.errors import InputError

    version = data.get("schema_version") if isinstance(data, dict) else None
    if version is None:
        return
    try:
        major = int(str(version).split(".")[0])
    except ValueError:
        raise InputError(f"{where}: schema_version {version!r} is not a version number") from None
    if major > int(SCHEMA_VERSION.split(".")[0]):
        raise InputError(
            f"{where}: written by a newer sessioncoder (schema {version}; this one reads {SCHEMA_VERSION} "
            "and older): upgrade sessioncoder to read it"
        )


Role = Literal["officer", "client", "other", "unknown"]  # other: an interpreter, a second worker

_M = TypeVar("_M", bound="Record")


class Record(BaseModel):
    """Base for every artefact: plain data with dict and JSON file round-trips."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls: type[_M], data: dict[str, Any]) -> _M:
        return cls.model_validate(data)

    def save(self, path: str | Path) -> Path:
        """Write as indented JSON, atomically."""
        path = Path(path)
        write_text_atomic(path, self.model_dump_json(indent=2) + "\n")
        return path

    @classmethod
    def load(cls: type[_M], path: str | Path) -> _M:
        return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- words and turns


class Word(Record):
    """One recognised word with its timing (seconds from the start of the recording)."""

    text: str
    start: float
    end: float
    probability: float | None = None
    speaker: str | None = None


class SpeakerTurn(Record):
    """A stretch of time in which one speaker talks (diarisation output)."""

    speaker: str
    start: float
    end: float


# --------------------------------------------------------------------------- codes


class CodeAssignment(Record):
    """One code on one utterance, with where it came from.

    ``source`` is ``rule`` (the spaCy rule coder), ``model`` (the trained MI
    classifier), ``semantic`` (nearest codebook example), ``trained`` (the code
    model), ``context`` (carried over from a neighbouring utterance) or
    ``human`` (a trainer's correction). ``rule`` names the rule id or model
    that fired; ``evidence`` is the text that triggered it and ``span`` its
    character offsets in the utterance text.
    """

    code: str
    confidence: float = Field(ge=0.0, le=1.0)
    source: str = "rule"
    rule: str | None = None
    evidence: str | None = None
    span: tuple[int, int] | None = None


class Utterance(Record):
    """One speaker turn (one transcript line): the unit of coding."""

    index: int
    speaker: str
    role: Role = "unknown"
    start: float | None = None
    end: float | None = None
    text: str
    words: list[Word] = Field(default_factory=list)
    codes: list[CodeAssignment] = Field(default_factory=list)

    @property
    def code_ids(self) -> list[str]:
        return [c.code for c in self.codes]

    def has(self, *codes: str) -> bool:
        return any(c.code in codes for c in self.codes)

    def has_prefix(self, *prefixes: str) -> bool:
        return any(c.code.startswith(prefixes) for c in self.codes)

    @property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return max(0.0, self.end - self.start)

    @property
    def word_count(self) -> int:
        return len(self.text.split())


# --------------------------------------------------------------------------- provenance


class SourceInfo(Record):
    """The input file a session was made from, identified by content hash."""

    path: str
    sha256: str
    kind: Literal["transcript", "audio", "session"]
    format: str


class ModelInfo(Record):
    """A model used to make an artefact, so results can be traced and reproduced."""

    task: str  # asr | vad | diarisation | spacy | mi-classifier | code-model | semantic-coder | roles
    name: str
    version: str | None = None
    path: str | None = None
    sha256: str | None = None
    licence: str | None = None
    quantisation: str | None = None  # how the weights are stored, where it changes the outputs


class SpeakerInfo(Record):
    """A speaker label, the role given to it and why."""

    id: str
    role: Role = "unknown"
    role_confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    role_evidence: list[str] = Field(default_factory=list)
    talk_seconds: float | None = None
    words: int = 0


class CodebookRef(Record):
    id: str
    version: str
    sha256: str
    path: str | None = None


# --------------------------------------------------------------------------- transcript


class Transcript(Record):
    """Utterances with speakers and roles: the output of parsing or of the audio front end.

    For audio input it also keeps the recognised ``words``, the diarised
    ``turns`` and the ``settings`` that made them; ``cache_key`` identifies
    that combination so re-coding can skip transcription.
    """

    schema_version: str = SCHEMA_VERSION
    source: SourceInfo
    duration: float | None = None
    speakers: list[SpeakerInfo] = Field(default_factory=list)
    utterances: list[Utterance] = Field(default_factory=list)
    words: list[Word] = Field(default_factory=list)
    turns: list[SpeakerTurn] = Field(default_factory=list)
    models: list[ModelInfo] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    cache_key: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)

    def speaker(self, speaker_id: str) -> SpeakerInfo | None:
        return next((s for s in self.speakers if s.id == speaker_id), None)

    @property
    def timed(self) -> bool:
        """True when every utterance has a start and an end time."""
        return bool(self.utterances) and all(
            u.start is not None and u.end is not None for u in self.utterances
        )


# --------------------------------------------------------------------------- profile


class Evidence(Record):
    """A moment in the session that supports a measure: the quote and where it is."""

    index: int
    code: str | None = None
    start: float | None = None
    speaker: str | None = None
    quote: str


class TalkShare(Record):
    role: Role
    seconds: float | None = None
    share_time: float | None = None
    words: int = 0
    share_words: float = 0.0
    utterances: int = 0


class TalkTime(Record):
    basis: Literal["time", "words"]
    roles: list[TalkShare] = Field(default_factory=list)


class CodeCount(Record):
    code: str
    group: str
    count: int
    per_10_min: float | None = None


Rating = Literal["below", "fair", "good", "n/a"]


class MitiScore(Record):
    """One MITI summary score with its fair and good thresholds and the rating reached."""

    id: str
    name: str
    value: float | None
    display: str
    fair: float | None = None
    good: float | None = None
    rating: Rating = "n/a"


class Miti(Record):
    reflections: int
    simple_reflections: int
    complex_reflections: int
    questions: int
    open_questions: int
    closed_questions: int
    adherent: int
    non_adherent: int
    scores: list[MitiScore] = Field(default_factory=list)


class SkillArea(Record):
    """A STICS skill area: which of its skills were seen, how often, and the evidence."""

    id: str
    name: str
    score: float = Field(ge=0.0, le=1.0)  # share of the area's skills demonstrated at least once
    count: int
    skills_used: list[str] = Field(default_factory=list)
    skills_missing: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)


class TopicTime(Record):
    topic: str
    name: str
    criminogenic: bool
    category: Literal["criminogenic", "condition", "other"]
    utterances: int
    minutes: float
    share: float


class TopicSegment(Record):
    """A run of talk on one topic: utterance indices ``first``..``last`` (backchannels inside included)."""

    topic: str
    first: int
    last: int
    start: float | None = None
    end: float | None = None
    utterances: int = 0


class Content(Record):
    basis: Literal["time", "words"]
    topics: list[TopicTime] = Field(default_factory=list)
    share_criminogenic: float = 0.0
    share_conditions: float = 0.0
    share_other: float = 0.0
    share_untopiced: float = 0.0
    procriminal_discussed: bool = False
    procriminal_evidence: list[Evidence] = Field(default_factory=list)
    # Topic minutes come from these runs of talk (coding/topics.py), not from single lines.
    segments: list[TopicSegment] = Field(default_factory=list)


class PraiseCriticism(Record):
    """Positive remarks (reinforcement, affirmation) against criticism (disapproval, confront).

    Trotter's guidance: at least five positive remarks for each criticism.
    """

    positive: int = 0
    negative: int = 0
    ratio: float | None = None  # positive / negative; None without criticism
    guidance: float = 5.0
    meets_guidance: bool | None = None  # None when there was neither praise nor criticism
    display: str = ""


class OverallSkill(Record):
    """One figure across the four STICS skill areas, with how it was computed."""

    score: float = Field(ge=0.0, le=1.0)
    areas: dict[str, float] = Field(default_factory=dict)
    computation: str = ""


class StructureItem(Record):
    code: str
    name: str
    present: bool
    count: int = 0
    first_index: int | None = None
    first_time: float | None = None
    position: float | None = None  # 0 = start of session, 1 = end
    expected: Literal["start", "end", "any"] = "any"
    in_expected_place: bool | None = None


class MissedOpportunity(Record):
    kind: Literal["procriminal_unaddressed", "change_talk_unreflected"]
    index: int
    start: float | None = None
    quote: str
    explanation: str


class Profile(Record):
    """Session-level measures (codebook-spec "Session-level measures")."""

    duration_minutes: float
    duration_basis: Literal["time", "words"]
    utterances: int
    talk_time: TalkTime
    code_counts: list[CodeCount] = Field(default_factory=list)
    miti: Miti
    skill_areas: list[SkillArea] = Field(default_factory=list)
    overall_skill: OverallSkill | None = None
    praise_criticism: PraiseCriticism | None = None
    content: Content
    structure: list[StructureItem] = Field(default_factory=list)
    missed_opportunities: list[MissedOpportunity] = Field(default_factory=list)

    def count(self, code: str) -> int:
        return next((c.count for c in self.code_counts if c.code == code), 0)


# --------------------------------------------------------------------------- coded session


class AuditEntry(Record):
    """One change made to a coded session after coding (a trainer's correction)."""

    at: datetime
    action: Literal["add", "remove"]
    index: int
    code: str
    by: str | None = None
    note: str | None = None


class CodedSession(Record):
    """A transcript with codes on every utterance and its profile: the main output."""

    schema_version: str = SCHEMA_VERSION
    created: datetime = Field(default_factory=lambda: datetime.now(UTC))
    source: SourceInfo
    transcript_key: str | None = None
    duration: float | None = None
    speakers: list[SpeakerInfo] = Field(default_factory=list)
    codebooks: list[CodebookRef] = Field(default_factory=list)
    models: list[ModelInfo] = Field(default_factory=list)
    utterances: list[Utterance] = Field(default_factory=list)
    profile: Profile | None = None
    audit: list[AuditEntry] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)

    @property
    def name(self) -> str:
        return Path(self.source.path).name


def load_session(path: str | Path) -> CodedSession:
    """Load a saved ``<stem>.session.json``."""
    return CodedSession.load(path)


# --------------------------------------------------------------------------- reliability


class CodeReliability(Record):
    """How one code agreed with a human coder, utterance by utterance, on sessions held out from tuning."""

    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    kappa: float | None = None
    support: int = 0  # utterances the human coder gave the code
    predicted: int = 0  # utterances the tool gave it


class Reliability(Record):
    """A codebook's measured agreement with human coders: what the report's "how far to trust" shows.

    Saved beside the codebook as ``NAME.reliability.json`` (``sessioncoder agree
    --reliability-out``; for the shipped codebook ``scripts/measure_reliability.py``),
    and valid only for the codebook content it was measured with (``sha256``).

    >>> r = Reliability(codebook="stics", version="1.1", sha256="ab", measured_on="7 sessions",
    ...     sessions=7, utterances=277, codes={"mi.open_question": CodeReliability(f1=0.89, support=39)})
    >>> Reliability.from_dict(r.to_dict()) == r
    True
    """

    codebook: str
    version: str
    sha256: str
    measured_on: str
    sessions: int
    utterances: int
    codes: dict[str, CodeReliability] = Field(default_factory=dict)
    # The sha256 of the trained models' weights the figures were measured with (e.g. "code-model"):
    # figures measured with other weights describe another coder.
    models: dict[str, str] = Field(default_factory=dict)
