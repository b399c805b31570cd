"""The rule coder: codebook rules (phrases, spaCy patterns, lemma lexicons, regexes,
built-in detectors) applied to every utterance, with its context.

Behaviour lives in the codebook YAML; this module only interprets it. The
detectors for questions and reflections are the one place where analysis is
code, because they look at sentence shape and at the client's previous words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc

from sessioncoder.coding.codebook import Codebook, CodeSpec, RuleSpec
from sessioncoder.nlp import load_nlp, nlp_info
from sessioncoder.schema import CodeAssignment, ModelInfo, Utterance
from sessioncoder.text import STOP_WORDS

# --------------------------------------------------------------------------- question and reflection analysis

_DISCOURSE_PREFIX = re.compile(
    r"^(?:(?:and|but|so|okay|ok|right|alright|all right|well|um+|uh+|er+|erm|now|then|yeah|yes|mm+|hmm+|mm-hmm|"
    r"uh-huh|mhm|just|oh|sure|great|good)\b[\s,.-]*)+"
)
_SENTENCE_SPLIT = re.compile(r"(?<=[.?!])\s+")
_OPEN_STARTS = re.compile(
    r"^(what|how|why|in what way|tell me|talk me through|walk me through|describe|explain|help me understand|"
    r"say more|can you tell me (more|about)|could you tell me (more|about)|i wonder (what|how|why)|i'm wondering (what|how|why))\b"
)
# Wh-questions that ask for a short fact are closed (MITI 4.2.1).
_CLOSED_WH = re.compile(
    r"^(how (many|much|long|often|old|far|soon)|what (time|day|date|age|number)|which|where|when|who|whose|whom)\b"
)
_AUX_START = re.compile(
    r"^(do|does|did|don't|doesn't|didn't|are|aren't|is|isn't|was|wasn't|were|weren't|have|haven't|has|hasn't|had|"
    r"can|can't|could|couldn't|will|won't|would|wouldn't|should|shouldn't|shall|may|might|must|any|anything|anyone|"
    r"is there|are there|on a scale)\b"
)
_IMPERATIVE_OPEN = re.compile(
    r"^(tell me|talk me through|walk me through|take me through|run me through|describe|say (a bit )?more|go on|"
    r"explain)\b"
)
# A lead-in before the question itself: a vocative or greeting ("Hiya Reece, how are you?"), a time
# ("Next time, what could you do?") or a clause ("When you tell yourself that, what happens?").
_LEAD_IN = re.compile(r"^[^,?]{1,80},\s+(?=\S)")
# ... where a subordinate clause, unlike "When did you...?", is cut even though it starts with a wh-word.
_CLAUSE_LEAD_IN = re.compile(
    r"^(?:when|whenever|if|once|after|before|while|since)\s+"
    r"(?!(?:do|does|did|is|are|was|were|will|would|can|could|should|have|has|had)\b)[^,?]{1,80},\s+(?=\S)"
)
_REFLECTION_START = re.compile(
    r"^(?:so,? you\b|so,? (?:he|she|they|it|things|that|this|the|your|what)\b|"
    r"(?:so )?you(?:'re| are| were|'ve| have| had|'d| feel| felt| think| thought| want| wanted| don't| didn't| do| "
    r"really| never| just| seem| sound| see| mean| can't| couldn't| would| wish| like| hate| love| know| care| got)\b|"
    r"it (?:sounds|seems|feels|looks) (?:like|as if|as though)|sounds (?:like|as if)|seems (?:like|as if)|"
    r"what i(?:'m| am) hearing|i(?:'m| am) hearing|if i(?:'ve| have) (?:got|understood) (?:that|this|you) right|"
    r"in other words|on (?:the )?one hand|part of you|for you,|it's like|it's as if|it must (?:be|have been)|"
    r"you're saying|what you're saying|your [a-z']+(?: [a-z']+)? (?:really )?(?:matters?|means? (?:a lot|everything)|(?:is|are) (?:really )?important) to you)"
)
_NOT_REFLECTION = re.compile(
    r"^(so )?you (need|have|must|should|ought|'ve got|'ll|will|might want|could try|can|gotta|better)\b|"
    r"^(so )?you('ve| have) (got to|to)\b|^(so )?you('re| are) (going to|gonna|required)\b"
)
_SO_REFLECTION = re.compile(
    r"^(?:(?:okay|ok|right|and|yeah|uh-huh|mm-hmm|mhm|all right|alright)[\s,.]+)*so,?\s+(?:(?:um|uh),?\s+)?"
    r"(?!(?:i|i'm|i'd|i'll|i've|we|we'll|we're|let's|let|what|how|why|when|where|who|which|do|does|did|is|are|can|"
    r"could|would|will|should|have|has|today|now|then|anyway|next|before|if)\b)[a-z]"
)
_ADVICE = re.compile(r"\byou (really |just )?(should|need to|must|have to|'ve got to|ought to)\b")
_COMPLEX_MARKERS = re.compile(
    r"\b(feel|feels|felt|feeling|worried|worry|scared|afraid|frightened|angry|frustrated|fed up|hurt|upset|"
    r"ashamed|guilty|proud|lonely|hopeless|stuck|trapped|cornered|torn|relieved|overwhelmed|sounds like|seems like|"
    r"part of you|on (the )?one hand|on the other|even though|and yet|but at the same time|it's like|as if|"
    r"really (matters|important|want)|matters to you|important to you|you care|you value|you wonder|you're not sure|"
    r"deep down|must (be|have been)|the last thing you want|you'd rather|wish)\b"
)


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower().replace("’", "'").replace("‘", "'")).strip()


@dataclass
class QuestionShape:
    is_question: bool = False
    open: bool = False
    closed: bool = False
    evidence: str | None = None


def _asks_by_form(sentence: str) -> bool:
    return bool(_CLOSED_WH.match(sentence) or _AUX_START.match(sentence) or _OPEN_STARTS.match(sentence))


def _question_proper(sentence: str) -> str:
    """The sentence from where its question starts, past lead-ins that end in a comma.

    Only a sentence that does not already start as a question is cut, and only where
    what follows the comma does: "So you felt cornered, didn't you?" keeps its shape.

    >>> _question_proper("hiya reece, how are you doing today?")
    'how are you doing today?'
    >>> _question_proper("when you tell yourself that, what usually happens?")
    'what usually happens?'
    >>> _question_proper("what happened, and how did it feel?")
    'what happened, and how did it feel?'
    """
    rest = sentence
    while (m := _CLAUSE_LEAD_IN.match(rest)) or (not _asks_by_form(rest) and (m := _LEAD_IN.match(rest))):
        rest = _DISCOURSE_PREFIX.sub("", rest[m.end() :]).strip(" ,")
    return rest if _asks_by_form(rest) else sentence


def analyse_question(text: str) -> QuestionShape:
    """Classify an utterance's questions as open or closed (MITI 4.2.1 conventions).

    >>> analyse_question("What happened after you left the pub?").open
    True
    >>> analyse_question("How many drinks did you have?").closed
    True
    >>> analyse_question("Tell me more about that.").open
    True
    >>> analyse_question("You went to the pub.").is_question
    False
    >>> analyse_question("When you tell yourself one won't hurt, what usually happens next?").open
    True
    """
    shape = QuestionShape()
    for sentence in _SENTENCE_SPLIT.split(normalise(text)):
        stripped = _DISCOURSE_PREFIX.sub("", sentence).strip(" ,")
        if not stripped:
            continue
        asks = sentence.endswith("?")
        if _IMPERATIVE_OPEN.match(stripped):
            shape.is_question, shape.open, shape.evidence = True, True, sentence
            continue
        if not asks:
            continue
        shape.is_question = True
        stripped = _question_proper(stripped)
        if _CLOSED_WH.match(stripped) or _AUX_START.match(stripped):
            # "Can you tell me more about..." is an open request phrased as yes/no.
            if re.match(r"^(can|could|would) you (tell|say|talk|describe|explain)", stripped):
                shape.open, shape.evidence = True, sentence
            else:
                shape.closed = True
                shape.evidence = shape.evidence or sentence
        elif _OPEN_STARTS.match(stripped):
            shape.open, shape.evidence = True, sentence
        else:
            # Declarative with a question mark ("So you felt cornered?") or a tag question.
            shape.closed = True
            shape.evidence = shape.evidence or sentence
    if shape.open:
        shape.closed = False
    return shape


def content_lemmas(doc: Doc) -> set[str]:
    return {t.lemma_.lower() for t in doc if t.is_alpha and t.lemma_.lower() not in STOP_WORDS and len(t) > 2}


@dataclass
class ReflectionShape:
    is_reflection: bool = False
    complex: bool = False
    evidence: str | None = None
    overlap: float = 0.0


def analyse_reflection(text: str, doc: Doc, previous_client_doc: Doc | None) -> ReflectionShape:
    """Is this practitioner statement a reflection of the client's last words, and is it complex?

    Simple reflections repeat the client's content words; complex ones add
    feeling, meaning or a double-sided view, or move well beyond the words used.
    """
    shape = ReflectionShape()
    lowered = normalise(text)
    sentences = [s for s in _SENTENCE_SPLIT.split(lowered) if _DISCOURSE_PREFIX.sub("", s).strip(" ,.?!-")]
    if not sentences:
        return shape
    raw_first = sentences[0].lstrip("-– ")  # the first sentence that is more than "Okay." or "Mm-hmm."
    first_sentence = _DISCOURSE_PREFIX.sub("", raw_first).strip(" ,")
    # "So you ..." / "So the drinking ..." opens a reflection; test before the "so" is stripped.
    so_you = _SO_REFLECTION.match(raw_first) is not None
    if not (so_you or _REFLECTION_START.match(first_sentence)) or _NOT_REFLECTION.match(first_sentence):
        return shape
    if _ADVICE.search(lowered):  # "It sounds like a good course, you should go" is advice, not a reflection
        return shape
    if _OPEN_STARTS.match(first_sentence) or _AUX_START.match(first_sentence):
        return shape
    shape.is_reflection = True
    shape.evidence = first_sentence
    mine = content_lemmas(doc)
    if previous_client_doc is not None and mine:
        theirs = content_lemmas(previous_client_doc)
        shape.overlap = len(mine & theirs) / len(mine)
    # A feeling word only adds meaning if the client did not say it first.
    client_text = normalise(previous_client_doc.text) if previous_client_doc is not None else ""
    added = [m.group(0) for m in _COMPLEX_MARKERS.finditer(lowered) if m.group(0) not in client_text]
    shape.complex = bool(added) or shape.overlap < 0.34
    return shape


# --------------------------------------------------------------------------- compiled rules


@dataclass
class _CompiledRule:
    code: CodeSpec
    rule: RuleSpec
    key: str
    lemmas: frozenset[str]
    regexes: list[re.Pattern[str]]
    unless: re.Pattern[str] | None
    role: str


@dataclass
class _UtteranceContext:
    utterance: Utterance
    doc: Doc
    text: str
    position: float
    previous_role: str | None
    previous_client_doc: Doc | None
    question: QuestionShape = field(default_factory=QuestionShape)
    aligned: bool = True  # ``text`` has the same character offsets as the utterance's text
    reflection: ReflectionShape | None = None


def _phrase_regex(phrases: Iterable[str]) -> re.Pattern[str] | None:
    phrases = [normalise(p) for p in phrases]
    if not phrases:
        return None
    return re.compile(
        r"\b(?:" + "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True)) + r")\b"
    )


class RuleCoder:
    """Applies a codebook's rules. Implements the :class:`~sessioncoder.coding.base.Coder` protocol."""

    name = "rules"
    owned_codes: frozenset[str] = frozenset()

    def __init__(self, codebook: Codebook):
        self.codebook = codebook
        self.settings = codebook.settings
        self.nlp = load_nlp()
        self.rules: list[_CompiledRule] = []
        self.phrase_matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        self.matcher = Matcher(self.nlp.vocab)
        self.rules_by_lemma: dict[str, list[int]] = {}
        for code in codebook.codes.values():
            for rule in code.rules:
                index = len(self.rules)
                key = f"r{index}"
                compiled = _CompiledRule(
                    code=code,
                    rule=rule,
                    key=key,
                    lemmas=frozenset(lemma.lower() for lemma in rule.lemmas),
                    # One alternation per rule: a single scan instead of one per expression.
                    regexes=[re.compile("|".join(f"(?:{e})" for e in rule.regex))] if rule.regex else [],
                    unless=_phrase_regex(rule.unless),
                    role=rule.role or code.applies_to,
                )
                self.rules.append(compiled)
                if rule.phrases:
                    self.phrase_matcher.add(key, [self.nlp.make_doc(normalise(p)) for p in rule.phrases])
                if rule.patterns:
                    self.matcher.add(key, rule.patterns)
                for lemma in compiled.lemmas:
                    self.rules_by_lemma.setdefault(lemma, []).append(index)
        self.backchannel = _phrase_regex(self.settings.backchannels)

    # ------------------------------------------------------------------ protocol

    def model_info(self) -> list[ModelInfo]:
        name, version = nlp_info()
        return [ModelInfo(task="spacy", name=name, version=version, licence="MIT")]

    def code(self, utterances: list[Utterance]) -> list[list[CodeAssignment]]:
        docs = list(self.nlp.pipe((u.text for u in utterances), batch_size=256))
        contexts = self._contexts(utterances, docs)
        return [self._code_one(ctx) for ctx in contexts]

    # ------------------------------------------------------------------ internals

    def _contexts(self, utterances: list[Utterance], docs: list[Doc]) -> list[_UtteranceContext]:
        n = len(utterances)
        timed = n > 0 and all(u.start is not None and u.end is not None for u in utterances)
        total = max((u.end or 0.0) for u in utterances) if timed else 0.0
        contexts: list[_UtteranceContext] = []
        last_client_doc: Doc | None = None
        for i, (utterance, doc) in enumerate(zip(utterances, docs, strict=True)):
            if timed and total > 0:
                position = ((utterance.start or 0.0) + (utterance.end or 0.0)) / 2 / total
            else:
                position = i / (n - 1) if n > 1 else 0.0
            ctx = _UtteranceContext(
                utterance=utterance,
                doc=doc,
                text=normalise(utterance.text),
                position=position,
                previous_role=utterances[i - 1].role if i > 0 else None,
                previous_client_doc=last_client_doc,
            )
            ctx.question = analyse_question(utterance.text)
            ctx.aligned = len(ctx.text) == len(utterance.text)
            contexts.append(ctx)
            if utterance.role == "client":
                last_client_doc = doc
        return contexts

    def _is_backchannel(self, ctx: _UtteranceContext) -> bool:
        words = re.findall(r"[a-z']+", ctx.text)
        if not words:
            return True
        if len(words) <= 3 and self.backchannel is not None:
            return not self.backchannel.sub("", " ".join(words)).strip()
        return False

    def _is_greeting(self, ctx: _UtteranceContext) -> bool:
        return len(ctx.text.split()) <= 6 and bool(
            re.match(
                r"^(hi|hello|hiya|hey|good (morning|afternoon|evening)|morning|afternoon|nice to (see|meet) you)\b",
                ctx.text,
            )
        )

    def _role_allows(self, rule_role: str, utterance_role: str) -> tuple[bool, float]:
        """Whether a rule may fire for this speaker, and a confidence factor.

        With the role unknown both sides' codes are allowed but at reduced
        confidence, so they are flagged for human review rather than lost.
        """
        if rule_role == "any":
            return True, 1.0
        if utterance_role == "unknown":
            return True, 0.6
        return rule_role == utterance_role, 1.0

    def _code_one(self, ctx: _UtteranceContext) -> list[CodeAssignment]:
        if self._is_backchannel(ctx) or self._is_greeting(ctx):
            return []
        hits: dict[int, tuple[str, tuple[int, int] | None]] = {}
        for match_id, start, end in self.phrase_matcher(ctx.doc):
            key = self.nlp.vocab.strings[match_id]
            span = ctx.doc[start:end]
            hits.setdefault(int(key[1:]), (span.text, (span.start_char, span.end_char)))
        for match_id, start, end in self.matcher(ctx.doc) if len(self.matcher) else ():
            key = self.nlp.vocab.strings[match_id]
            span = ctx.doc[start:end]
            hits.setdefault(int(key[1:]), (span.text, (span.start_char, span.end_char)))
        for token in ctx.doc:
            for form in (token.lower_, token.lemma_.lower()):
                for index in self.rules_by_lemma.get(form, ()):
                    hits.setdefault(index, (token.text, (token.idx, token.idx + len(token.text))))
        # Each rule's cheap conditions once, before the costlier regexes and detectors run.
        factors = [self._conditions(compiled, ctx) for compiled in self.rules]
        for index, compiled in enumerate(self.rules):
            if index in hits or factors[index] <= 0:
                continue
            for expression in compiled.regexes:
                found = expression.search(ctx.text)
                if found:
                    if ctx.aligned:
                        hits[index] = (ctx.utterance.text[found.start() : found.end()], found.span())
                    else:  # whitespace was folded: offsets are not the original's
                        hits[index] = (found.group(0), None)
                    break
            else:
                detected = self._detector(compiled.rule.detector, ctx)
                if detected is not None:
                    hits[index] = (detected, None)

        best: dict[str, CodeAssignment] = {}
        for index, (evidence, span) in hits.items():
            compiled = self.rules[index]
            factor = factors[index]
            if factor <= 0 or not self._question_ok(compiled.rule, ctx, span):
                continue
            assignment = CodeAssignment(
                code=compiled.code.id,
                confidence=round(compiled.rule.confidence * factor, 3),
                source="rule",
                rule=compiled.rule.id,
                evidence=evidence,
                span=span,
            )
            current = best.get(assignment.code)
            if current is None or assignment.confidence > current.confidence:
                best[assignment.code] = assignment
        return list(best.values())

    def _detector(self, name: str | None, ctx: _UtteranceContext) -> str | None:
        if name is None:
            return None
        if name in ("question", "open_question", "closed_question"):
            q = ctx.question
            wanted = {"question": q.is_question, "open_question": q.open, "closed_question": q.closed}[name]
            return q.evidence if wanted else None
        if ctx.reflection is None:
            ctx.reflection = analyse_reflection(ctx.utterance.text, ctx.doc, ctx.previous_client_doc)
        r = ctx.reflection
        if not r.is_reflection:
            return None
        if name == "complex_reflection" and not r.complex:
            return None
        if name == "simple_reflection" and r.complex:
            return None
        return r.evidence

    def _question_ok(self, rule: RuleSpec, ctx: _UtteranceContext, span: tuple[int, int] | None) -> bool:
        """``question:`` is checked on the sentence that matched, so praise followed by a question
        ("Well done for that. What happened on Friday?") is still praise."""
        if rule.question is None:
            return True
        if span is None:
            return rule.question == ctx.question.is_question
        text = ctx.utterance.text
        end = span[1]
        while end < len(text) and text[end] not in ".?!":
            end += 1
        start = span[0]
        while start > 0 and text[start - 1] not in ".?!":
            start -= 1
        sentence = text[start : end + 1]
        return rule.question == analyse_question(sentence).is_question

    def _conditions(self, compiled: _CompiledRule, ctx: _UtteranceContext) -> float:
        """0 when a condition fails, else a confidence factor (below 1 when the role is unknown)."""
        rule = compiled.rule
        allowed, factor = self._role_allows(compiled.role, ctx.utterance.role)
        if not allowed:
            return 0.0
        if rule.position is not None and not (rule.position[0] <= ctx.position <= rule.position[1]):
            return 0.0
        if rule.after_role is not None and ctx.previous_role not in (rule.after_role, "unknown"):
            return 0.0
        if compiled.unless is not None and compiled.unless.search(ctx.text):
            return 0.0
        words = len(ctx.text.split())
        if rule.min_words is not None and words < rule.min_words:
            return 0.0
        if rule.max_words is not None and words > rule.max_words:
            return 0.0
        return factor
