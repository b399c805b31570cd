"""Redaction of personal details from coded sessions before they are shared.

Supervision recordings are full of names, places, phone numbers and dates of
birth. A report that goes to a trainer by email should carry none of them, so
``Redactor`` replaces them with placeholders: ``[NAME]``, ``[PLACE]``,
``[PHONE]``, ``[DOB]``, ``[ADDRESS]``, ``[EMAIL]``.

Two sources of spans are merged: regular expressions for things with a shape
(emails, phone numbers, UK postcodes, street addresses, dates of birth) and
spaCy's named entities for things without one (people and places). Pattern
spans win over entity spans where they overlap, because a pattern is more
precise (spaCy happily labels a phone number as a DATE).

>>> r = Redactor(extra_names=["Darren"], use_ner=False)
>>> r.redact("Call darren on 07700 900123 or darren@example.org, DOB 03/03/1990.")
'Call [NAME] on [PHONE] or [EMAIL], DOB [DOB].'
>>> r.redact("He lives at 12 Acacia Road, LS6 2AB.")
'He lives at [ADDRESS], [ADDRESS].'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

from sessioncoder.schema import CodedSession, Evidence, Role

NAME, PLACE, PHONE, DOB, ADDRESS, EMAIL = "[NAME]", "[PLACE]", "[PHONE]", "[DOB]", "[ADDRESS]", "[EMAIL]"

# spaCy entity labels and the placeholder each becomes. ORG is left alone: in
# supervision talk it is mostly services ("the job centre", "Probation").
ENTITY_PLACEHOLDERS = {"PERSON": NAME, "GPE": PLACE, "LOC": PLACE, "FAC": PLACE}

_MONTHS = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DAY = r"(?:[0-3]?\d(?:st|nd|rd|th)?)"
_DATE = (
    rf"(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-]\d{{2,4}}"  # 03/03/1990
    rf"|{_DAY}\s+(?:of\s+)?{_MONTHS}\.?,?(?:\s+\d{{4}})?"  # 3rd of March 1990
    rf"|{_MONTHS}\.?\s+{_DAY},?(?:\s+\d{{4}})?"  # March 3rd, 1990
    rf"|{_MONTHS}\s+\d{{4}}"  # March 1990
    r"|(?:19|20)\d{2})"  # 1990
)
_STREET_TYPES = (
    r"(?:Road|Rd|Street|St|Avenue|Ave|Lane|Ln|Close|Drive|Dr|Way|Court|Ct|Crescent|Place|Pl|Terrace|"
    r"Gardens|Grove|Hill|Square|Walk|Row|Mews|Parade|Rise|View|Estate)"
)

_FULL_DATE = (
    rf"\b(?:\d{{1,2}}[/.-]\d{{1,2}}[/.-](?:19|20)\d{{2}}"
    rf"|{_DAY}\s+(?:of\s+)?{_MONTHS}\.?,?\s+(?:19|20)\d{{2}}"
    rf"|{_MONTHS}\.?\s+{_DAY},?\s+(?:19|20)\d{{2}})\b"
)
_TITLES = r"Mr|Mrs|Ms|Miss|Mx|Dr|Officer|Detective|Sergeant|Sgt|Judge|Nurse|Auntie|Uncle"
_NAME_WORD = r"[A-Z](?:[a-z]+|['’][A-Z][a-z]+)(?:-[A-Z][a-z]+)?"

# Without a house number only unambiguous street words count: "Crown Court" is not an address.
_STREET_NAMES = r"(?:Road|Rd|Street|Avenue|Ave|Lane|Close|Drive|Crescent|Terrace|Gardens|Grove|Mews|Parade)"

# Order matters only for readability; overlaps are resolved by _merge_spans.
PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (EMAIL, re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    (
        DOB,
        re.compile(
            rf"\b(?:dob|d\.o\.b\.?|date of birth)(?:\s+(?:is|was))?[:\s]*(?P<v>{_DATE})"
            rf"|\bborn(?:\s+(?:on|in))?(?:\s+the)?\s+(?P<v2>{_DATE})",
            re.IGNORECASE,
        ),
    ),
    # A full date with a year, wherever it is said: in supervision talk that is a date of birth or an
    # offence, release or court date, all personal; appointment dates are said without a year.
    (DOB, re.compile(_FULL_DATE, re.IGNORECASE)),
    # A title and a capitalised word: "Mrs Patel", "Officer Daniels" (the title is kept).
    (NAME, re.compile(rf"\b(?:{_TITLES})\.?\s+(?P<v>{_NAME_WORD}(?:\s+{_NAME_WORD})?)")),
    (
        PHONE,
        re.compile(
            r"(?<![\w/])(?:\+44\s?\(?0?\)?\s?|0)(?:\d[\s-]?){9,10}(?!\d)"  # UK mobile and landline
            # US: (718) 555-0143, 718.555.0167, +1 212 555 0199, 1-800-555-0136, 2015550123
            r"|(?<![\w/])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?!\d)"
            r"|(?<![\w/+])[2-9]\d{2}[2-9]\d{6}(?!\d)"
        ),
    ),
    (
        ADDRESS,
        re.compile(
            rf"\b(?:(?i:flat|unit)\s+\d+[a-z]?,?\s+)?\d{{1,4}}[a-z]?,?\s+(?:[A-Z][a-z']+\s+){{1,3}}{_STREET_TYPES}\b\.?"
            rf"|\b(?:[A-Z][a-z']+\s+){{1,3}}{_STREET_NAMES}\b(?!\s+(?:[A-Z]))",
        ),
    ),
    # UK postcode: "LS6 2AB", "SW1A 1AA". Upper case only, as written; ASR writes them that way.
    (ADDRESS, re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b")),
]

# Speaker labels that are not names and are kept as they are.
_GENERIC_LABEL = re.compile(
    r"^(?:speaker|spk|spkr|person|participant|officer|client|practitioner|po|offender|"
    r"interviewer|interviewee|therapist|unknown|s|channel|ch|left|right)?[\s_-]*(?:\d+|[a-z])?$",
    re.IGNORECASE,
)

# Words that start with a capital but are not places, after "in", "from", "at" ...
_NOT_PLACES = frozenset(
    re.findall(
        r"\w+",
        """january february march april may june july august september october november december
        monday tuesday wednesday thursday friday saturday sunday mondays tuesdays wednesdays thursdays
        fridays saturdays sundays christmas easter ramadan eid probation court english god mum mom dad
        nan nana grandma grandad the this that""",
    )
)
# "at Crown Court", "to the Job Centre": services everyone on probation goes to, not where they live.
_SERVICES = frozenset(
    re.findall(
        r"\w+",
        "court courts centre center office service services council group programme program meeting meetings team unit",
    )
)
# \b after the letters, so "Valentine's" is never matched as "Valentin"; "Don't" is not a name.
_TITLE_WORD = re.compile(r"(?<![\w'’])[A-Z][a-z]+(?:['’][A-Z][a-z]+)?\b(?!['’]t\b)")
_SURNAME = re.compile(rf"\s+({_NAME_WORD})\b(?!['’]t\b)")
_PLACE_CONTEXT = re.compile(
    r"\b(?:in|from|to|near|at|outside|around|round|towards|of|across|through)\s+"
    r"(?P<v>[A-Z][a-z]+(?:\s+[A-Z][a-z]+){0,2})\b"
)


@cache
def first_names() -> frozenset[str]:
    """The first-name list shipped beside this module (see its header for where it comes from)."""
    lines = Path(__file__).with_name("first_names.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _gazetteer_spans(text: str) -> list[tuple[int, int, str, int]]:
    """Title-case first names (with a surname after them) and capitalised words where a place is said.

    spaCy's small model misses many single first names ("Tasha from the drug service") and small
    places ("down by the canal in Kirkstall"); these two cues catch most of them.
    """
    names = first_names()
    spans: list[tuple[int, int, str, int]] = []
    for match in _TITLE_WORD.finditer(text):
        if match.group().lower() not in names or match.group().lower() in _NOT_PLACES:
            continue
        end = match.end()
        surname = _SURNAME.match(text, end)
        if surname and surname.group(1).lower() not in _NOT_PLACES:
            end = surname.end(1)
        spans.append((match.start(), end, NAME, 1))
    for match in _PLACE_CONTEXT.finditer(text):
        words = match.group("v").lower().split()
        if words[0] not in _NOT_PLACES and words[-1] not in _SERVICES:
            spans.append((match.start("v"), match.end("v"), PLACE, 3))
    return spans


_ROLE_LABEL: dict[Role, str] = {
    "officer": "Officer",
    "client": "Client",
    "other": "Other",
    "unknown": "Speaker",
}


def _load_nlp():
    """The project's shared spaCy pipeline when it exists, else the packaged English model."""
    from sessioncoder.nlp import load_nlp

    return load_nlp(with_ner=True)


def _merge_spans(spans: list[tuple[int, int, str, int]]) -> list[tuple[int, int, str]]:
    """Non-overlapping spans: lower priority number wins, then the longer span."""
    chosen: list[tuple[int, int, str]] = []
    for start, end, label, _ in sorted(spans, key=lambda s: (s[3], -(s[1] - s[0]), s[0])):
        if end <= start:
            continue
        if all(end <= s or start >= e for s, e, _ in chosen):
            chosen.append((start, end, label))
    return sorted(chosen)


def looks_like_name(label: str) -> bool:
    """True for a speaker label such as "Darren" or "Mrs Jones"; False for "SPEAKER_00" or "Officer"."""
    label = label.strip()
    return bool(label) and not _GENERIC_LABEL.match(label) and any(ch.isalpha() for ch in label)


class Redactor:
    """Replaces names, places, phone numbers, dates of birth, addresses and emails with placeholders.

    ``extra_names`` are always redacted as whole words, whatever the NER model
    thinks (the client's name is known; spaCy misses lower-case names).
    ``use_ner=False`` runs the patterns alone (fast, no model).
    """

    def __init__(self, extra_names: Iterable[str] = (), *, use_ner: bool = True) -> None:
        self.extra_names: list[str] = []
        self._names_re: re.Pattern[str] | None = None
        self.add_names(extra_names)
        self.use_ner = use_ner
        self._nlp = None

    def add_names(self, names: Iterable[str]) -> None:
        """Add names (and each part of a multi-word name) to the always-redacted list."""
        for name in names:
            for part in [name, *name.split()]:
                part = part.strip(" .,")
                if len(part) >= 2 and part.lower() not in {n.lower() for n in self.extra_names}:
                    if part.lower() in {"mr", "mrs", "ms", "miss", "dr"}:
                        continue
                    self.extra_names.append(part)
        if self.extra_names:
            alternatives = "|".join(re.escape(n) for n in sorted(self.extra_names, key=len, reverse=True))
            self._names_re = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    @property
    def nlp(self):
        if self._nlp is None:
            self._nlp = _load_nlp()
        return self._nlp

    def _pattern_spans(self, text: str) -> list[tuple[int, int, str, int]]:
        spans = []
        for label, pattern in PATTERNS:
            for match in pattern.finditer(text):
                # A pattern with a value group redacts the value only ("DOB: [DOB]").
                group = next((g for g in ("v", "v2") if match.groupdict().get(g)), 0)
                start, end = match.span(group)
                # Keep leading separators (": " after DOB) outside the placeholder.
                while start < end and text[start] in " :\t":
                    start += 1
                while end > start and text[end - 1] in " ,\t":
                    end -= 1
                spans.append((start, end, label, 0))
        if self._names_re is not None:
            spans.extend((m.start(), m.end(), NAME, 1) for m in self._names_re.finditer(text))
        spans.extend(_gazetteer_spans(text))
        return spans

    def spans_many(self, texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
        """For each text, the (start, end, placeholder) spans to redact: sorted, never overlapping.

        One spaCy pass over all the texts (much faster than one call each).
        """
        texts = list(texts)
        entity_spans: list[list[tuple[int, int, str, int]]] = [[] for _ in texts]
        if self.use_ner and any(t.strip() for t in texts):
            nlp = self.nlp
            # Only the entity recogniser (and the tok2vec it listens to): a third faster than the full pipeline.
            # A blank fallback pipeline has no "ner": then the patterns and known names do the work alone.
            wanted = [p for p in ("tok2vec", "ner") if p in nlp.pipe_names]
            with nlp.select_pipes(enable=wanted):
                docs = list(nlp.pipe(texts, batch_size=64)) if "ner" in wanted else []
            for i, doc in enumerate(docs):
                for ent in doc.ents:
                    placeholder = ENTITY_PLACEHOLDERS.get(ent.label_)
                    if placeholder:
                        entity_spans[i].append((ent.start_char, ent.end_char, placeholder, 2))
        return [
            _merge_spans(self._pattern_spans(text) + ents)
            for text, ents in zip(texts, entity_spans, strict=True)
        ]

    def redact_many(self, texts: Sequence[str]) -> list[str]:
        """Redact several texts in one pass."""
        texts = list(texts)
        out = []
        for text, spans in zip(texts, self.spans_many(texts), strict=True):
            for start, end, label in reversed(spans):
                text = text[:start] + label + text[end:]
            out.append(text)
        return out

    def redact(self, text: str) -> str:
        return self.redact_many([text])[0]

    def redact_session(self, session: CodedSession) -> CodedSession:
        """A copy with every text, evidence quote and name-like speaker label redacted.

        Word-level timings are dropped from the copy (each word would carry the
        name again); the copy is for rendering and sharing, not re-coding.
        """
        if session.settings.get("redacted"):
            return session
        session = session.model_copy(deep=True)
        label_map = self._speaker_labels(session)
        self.add_names(original for original, new in label_map.items() if new != original)

        # Gather every free text once, redact in one batch, then put them back in the same order.
        slots: list[tuple[object, str]] = []

        def want(obj: object, attr: str) -> None:
            if getattr(obj, attr, None):
                slots.append((obj, attr))

        for u in session.utterances:
            u.speaker = label_map.get(u.speaker, u.speaker)
            u.words = []
            want(u, "text")
            for c in u.codes:
                c.span = None
                want(c, "evidence")
        for s in session.speakers:
            s.id = label_map.get(s.id, s.id)
            s.role_evidence = self.redact_many(s.role_evidence)
        for entry in session.audit:
            want(entry, "note")
        if session.profile is not None:
            p = session.profile
            evidence: list[Evidence] = [e for a in p.skill_areas for e in a.evidence]
            evidence += p.content.procriminal_evidence
            for e in evidence:
                e.speaker = label_map.get(e.speaker, e.speaker) if e.speaker else e.speaker
                want(e, "quote")
            for m in p.missed_opportunities:
                want(m, "quote")
                want(m, "explanation")
        redacted = self.redact_many([getattr(obj, attr) for obj, attr in slots])
        for (obj, attr), text in zip(slots, redacted, strict=True):
            setattr(obj, attr, text)

        # The file name often carries the client's name ("darren_smith_week3.wav").
        path = Path(session.source.path)
        session.source.path = str(path.with_name(self.redact_filename(path.name)))
        # Marks the copy, so a report says it is redacted and nothing redacts it twice.
        session.settings["redacted"] = True
        return session

    def redact_filename(self, name: str) -> str:
        """Redact known names and patterns in a file name, keeping its separators."""
        stem, dot, suffix = name.rpartition(".") if "." in name else (name, "", "")
        spaced = re.sub(r"[_\-.]+", " ", stem)
        spans = _merge_spans(self._pattern_spans(spaced))
        out = stem
        # Same length after the separator swap, so spans index the original stem too.
        for start, end, label in reversed(spans):
            out = out[:start] + label.strip("[]").lower() + out[end:]
        return f"{out}{dot}{suffix}"

    @staticmethod
    def _speaker_labels(session: CodedSession) -> dict[str, str]:
        """Map name-like speaker labels to "Officer"/"Client" (numbered when a role has several)."""
        roles: dict[str, Role] = {s.id: s.role for s in session.speakers}
        for u in session.utterances:
            roles.setdefault(u.speaker, u.role)
        named = [label for label in roles if looks_like_name(label)]
        mapping: dict[str, str] = {}
        for label in named:
            role = roles[label]
            same_role = [n for n in named if roles[n] == role]
            base = _ROLE_LABEL[role]
            new = base if len(same_role) == 1 else f"{base} {same_role.index(label) + 1}"
            taken = set(roles) - {label}
            mapping[label] = new if new not in taken else f"{new} ({len(mapping) + 1})"
        return mapping
