"""Codebooks: the codes, their definitions and their matching rules, as YAML data.

A codebook is loaded from ``codebooks/<id>.yaml`` (by id) or from any path.
It may ``extends:`` another codebook by id or path and then add codes or
override fields of existing ones, so a research team can refine a definition
or a rule without copying the whole file. Validation errors name the file,
the line and the field::

    codebooks/mine.yaml:14: codes.mi.persuade.rules[0].confidence: Input should be less than or equal to 1

The code ids of ``codebook-spec.md`` must all be present after merging: a
codebook may add codes but not rename these.
"""

from __future__ import annotations

import copy
import os
import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sessioncoder.errors import CodebookError
from sessioncoder.fileio import sha256_text
from sessioncoder.schema import CodebookRef

CODEBOOK_DIR = Path(
    os.environ.get("SESSIONCODER_CODEBOOKS", Path(__file__).resolve().parents[2] / "codebooks")
)
DEFAULT_CODEBOOK = "stics"

# The ids fixed by shared/docs/codebook-spec.md (version 1.1). Kept here, not only
# in the YAML, so that a user's codebook cannot silently drop or rename one.
SPEC_CODE_IDS: tuple[str, ...] = (
    "structuring.check_in", "structuring.review", "structuring.agenda", "structuring.homework", "structuring.summary",
    "relationship.role_clarification", "relationship.affirmation", "relationship.autonomy", "relationship.collaboration",
    "mi.open_question", "mi.closed_question", "mi.simple_reflection", "mi.complex_reflection", "mi.giving_information",
    "mi.advice_with_permission", "mi.persuade", "mi.confront",
    "behavioural.reinforcement", "behavioural.disapproval", "behavioural.authority",
    "cognitive.model", "cognitive.restructuring", "cognitive.prosocial_modelling", "cognitive.problem_solving",
    "cognitive.skill_practice",
    "client.change_talk", "client.sustain_talk", "client.procriminal_statement",
    "topic.procriminal_attitudes", "topic.criminal_associates", "topic.substance_use", "topic.employment_education",
    "topic.family_relationships", "topic.leisure", "topic.antisocial_pattern", "topic.accommodation", "topic.finance",
    "topic.emotional_wellbeing", "topic.probation_conditions",
    # version 1.1
    "structuring.plan_link", "behavioural.community_resources",
)  # fmt: skip

CODE_ID_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")

AppliesTo = Literal["officer", "client", "any"]
MitiCategory = Literal[
    "open_question", "closed_question", "simple_reflection", "complex_reflection", "giving_information",
    "adherent", "non_adherent", "advice_with_permission", "persuade",
]  # fmt: skip


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class RuleSpec(_Spec):
    """One matching rule. All the conditions given must hold for the rule to fire.

    Matchers (at least one of ``phrases``, ``patterns``, ``lemmas``, ``regex``
    or ``detector``): ``phrases`` are matched case-insensitively as token
    sequences (spaCy PhraseMatcher on LOWER); ``patterns`` are spaCy Matcher
    token patterns; ``lemmas`` is a lexicon of single-token lemmas;
    ``regex`` are Python regular expressions over the lower-cased text;
    ``detector`` names a built-in analysis (``question``, ``open_question``,
    ``closed_question``, ``reflection``, ``complex_reflection``,
    ``simple_reflection``).
    Conditions: ``role`` (defaults to the code's ``applies_to``);
    ``position`` the [from, to] fraction of the session the utterance lies in;
    ``question`` whether the utterance must (true) or must not (false) be a
    question; ``after_role`` the role of the previous utterance; ``unless``
    phrases that veto the rule; ``min_words``/``max_words`` bounds on length.
    """

    id: str
    phrases: list[str] = Field(default_factory=list)
    patterns: list[list[dict[str, Any]]] = Field(default_factory=list)
    lemmas: list[str] = Field(default_factory=list)
    regex: list[str] = Field(default_factory=list)
    detector: (
        Literal[
            "question",
            "open_question",
            "closed_question",
            "reflection",
            "simple_reflection",
            "complex_reflection",
        ]
        | None
    ) = None
    confidence: float = Field(default=0.7, ge=0.0, le=1.0)
    role: AppliesTo | None = None
    position: tuple[float, float] | None = None
    question: bool | None = None
    after_role: Literal["officer", "client"] | None = None
    unless: list[str] = Field(default_factory=list)
    min_words: int | None = None
    max_words: int | None = None

    @model_validator(mode="after")
    def _has_a_matcher(self) -> RuleSpec:
        if not (self.phrases or self.patterns or self.lemmas or self.regex or self.detector):
            raise ValueError("a rule needs at least one of phrases, patterns, lemmas, regex or detector")
        if self.position is not None and not (0.0 <= self.position[0] <= self.position[1] <= 1.0):
            raise ValueError("position must be [from, to] with 0 <= from <= to <= 1")
        for expression in self.regex:
            try:
                re.compile(expression)
            except re.error as exc:
                raise ValueError(f"invalid regex {expression!r}: {exc}") from None
        return self


class ExampleSpec(_Spec):
    """An example utterance; ``after`` is the client line before it, where context matters (reflections)."""

    text: str
    after: str | None = None


def _as_examples(value: Any) -> Any:
    if isinstance(value, list):
        return [{"text": item} if isinstance(item, str) else item for item in value]
    return value


class CodeSpec(_Spec):
    id: str
    name: str
    group: str
    applies_to: AppliesTo
    definition: str
    examples: list[ExampleSpec] = Field(default_factory=list)
    counter_examples: list[ExampleSpec] = Field(default_factory=list)
    stics_area: str | None = None
    miti: MitiCategory | None = None
    # Topics: criminogenic need, probation condition or other (emotional wellbeing).
    category: Literal["criminogenic", "condition", "other"] | None = None
    # Structuring: where in the session this move belongs.
    expected_position: Literal["start", "end", "any"] | None = None
    implies: list[str] = Field(default_factory=list)
    # Codes this one displaces on the same utterance when they come from a lower-precedence
    # source (a summary is not also a simple reflection just because the MI model says so).
    overrides: list[str] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)
    # Semantic coder: more examples that the rules need not match, and the similarity to the
    # nearest prototype at which the code is given (None: left to the rules).
    prototypes: list[ExampleSpec] = Field(default_factory=list)
    semantic_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    # A trained model's assignment of this code is kept only at this confidence or above (None:
    # always kept). The MI model is trained on counselling talk; in supervision sessions its
    # low-confidence reflections and advice are mostly other moves, so a codebook sets where
    # it stops trusting them (scripts/tune_semantic.py, tuning half of bench/stics_dev).
    model_min_confidence: float | None = Field(default=None, ge=0.0, le=1.0)

    _examples = field_validator("examples", "counter_examples", "prototypes", mode="before")(
        classmethod(lambda cls, v: _as_examples(v))
    )

    @field_validator("rules")
    @classmethod
    def _unique_rule_ids(cls, rules: list[RuleSpec]) -> list[RuleSpec]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:  # codes record the rule that fired by id: two would be indistinguishable
                raise ValueError(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return rules

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not CODE_ID_RE.match(value):
            raise ValueError(
                f"code id {value!r} must look like 'group.name' (lower case, digits, underscores)"
            )
        return value


class GroupSpec(_Spec):
    name: str
    description: str = ""


class SkillAreaSpec(_Spec):
    name: str
    description: str = ""


class SemanticSettings(_Spec):
    """The semantic coder (:mod:`sessioncoder.coding.semantic`)."""

    enabled: bool = True
    encoder: Literal["mi", "frozen"] = "mi"  # "mi": share the MI model's embeddings (one pass)
    margin: float = Field(default=0.0, ge=-1.0, le=1.0)  # nearest positive must beat nearest negative by this


class CodeModelSettings(_Spec):
    """The trained code model (:mod:`sessioncoder.coding.code_model`)."""

    enabled: bool = True
    # Folder of the model: a name under the shipped ``models/`` or a path.
    model: str = "stics"


class CoderSettings(_Spec):
    """Tunable behaviour of the rule coder and the profile, declared in the codebook."""

    # Short follow-ups ("How much?", "Every night.") inherit the previous topic.
    topic_carry_over_max_words: int = 8
    topic_carry_over_confidence: float = Field(default=0.5, ge=0, le=1)
    # Topic segments (coding/topics.py): bridge gaps of up to this many utterances between two
    # utterances on one topic, and carry a topic forward over this many responding utterances.
    topic_gap: int = Field(default=3, ge=0)
    topic_carry_forward: int = Field(default=3, ge=0)
    # Topics that follow a named person: a name said in a turn on one of these topics puts later
    # and earlier turns naming that person on it too ("Kyle" once he is one of the lads).
    topic_anchor_names: list[str] = Field(default_factory=list)
    # Which coder's assignment is kept when several give the same code, and whose codes an
    # ``overrides`` entry may displace: earlier in the list wins.
    precedence: list[str] = Field(
        default_factory=lambda: ["human", "rule", "model", "trained", "semantic", "context"]
    )
    semantic: SemanticSettings = Field(default_factory=SemanticSettings)
    code_model: CodeModelSettings = Field(default_factory=CodeModelSettings)
    # Codes a trained model owns but the rules decide when they fire: the question detector is
    # MITI's own convention (every "?" is a question, "how many" is closed), and the model's
    # other code for the turn (information, a reflection) then stands beside it.
    rules_decide: list[str] = Field(default_factory=lambda: ["mi.open_question", "mi.closed_question"])
    # Codes a trained model owns that the rules may give as well (a rule's assignment then stands
    # beside the model's, or alone where the model gave none): a model trained on health-care MI
    # (AnnoMI) does not know probation logistics ("your next appointment is on the 12th") as
    # information, and the codebook's rules do.
    rules_also_give: list[str] = Field(default_factory=list)
    backchannels: list[str] = Field(
        default_factory=lambda: [
            "yeah",
            "yes",
            "no",
            "right",
            "okay",
            "ok",
            "mm",
            "mhm",
            "uh huh",
            "sure",
            "fine",
        ]
    )
    missed_opportunity_window: int = 3  # utterances after the client's statement
    # Client lines this soon after a skill-practice move are taken as spoken inside the role play,
    # and keep only their topic codes (coding convention).
    role_play_window: int = 4
    low_confidence: float = Field(default=0.6, ge=0, le=1)  # codes below this are flagged for human review
    words_per_minute: float = 150.0  # to estimate minutes when a transcript has no timings


class Codebook(_Spec):
    id: str
    version: str
    name: str
    description: str = ""
    extends: str | None = None
    groups: dict[str, GroupSpec]
    skill_areas: dict[str, SkillAreaSpec] = Field(default_factory=dict)
    settings: CoderSettings = Field(default_factory=CoderSettings)
    codes: dict[str, CodeSpec]
    # Domain terms Whisper is prompted with (speech.asr.vocabulary_prompt); an extending codebook adds to them.
    vocabulary: list[str] = Field(default_factory=list)
    # Where it was loaded from and a hash of the merged content (not part of the YAML).
    path: str | None = Field(default=None, exclude=True)
    sha256: str = Field(default="", exclude=True)

    @model_validator(mode="after")
    def _cross_references(self) -> Codebook:
        for key, code in self.codes.items():
            if key != code.id:
                raise ValueError(f"code key {key!r} differs from its id {code.id!r}")
            if code.group not in self.groups:
                raise ValueError(
                    f"code {key}: unknown group {code.group!r} (groups: {', '.join(self.groups)})"
                )
            if code.stics_area is not None and code.stics_area not in self.skill_areas:
                raise ValueError(f"code {key}: unknown stics_area {code.stics_area!r}")
            for implied in code.implies:
                if implied not in self.codes:
                    raise ValueError(f"code {key}: implies unknown code {implied!r}")
            for displaced in code.overrides:
                if displaced not in self.codes:
                    raise ValueError(f"code {key}: overrides unknown code {displaced!r}")
        missing = [c for c in SPEC_CODE_IDS if c not in self.codes]
        if missing:
            raise ValueError(f"codebook lacks the spec's code ids: {', '.join(missing)}")
        return self

    def ref(self) -> CodebookRef:
        return CodebookRef(id=self.id, version=self.version, sha256=self.sha256, path=self.path)

    def code(self, code_id: str) -> CodeSpec:
        try:
            return self.codes[code_id]
        except KeyError:
            raise CodebookError(f"unknown code id {code_id!r} in codebook {self.id}") from None

    def codes_in_group(self, group: str) -> list[CodeSpec]:
        return [c for c in self.codes.values() if c.group == group]

    def codes_in_area(self, area: str) -> list[CodeSpec]:
        return [c for c in self.codes.values() if c.stics_area == area]

    def topics(self) -> list[CodeSpec]:
        return [c for c in self.codes.values() if c.category is not None]

    def check_ids(self, code_ids: list[str] | set[str], where: str) -> None:
        """Raise a one-line CodebookError naming ``where`` for any id not in this codebook."""
        unknown = sorted(set(code_ids) - set(self.codes))
        if unknown:
            raise CodebookError(
                f"{where}: unknown code id(s) {', '.join(unknown)} (not in codebook {self.id})"
            )


# --------------------------------------------------------------------------- loading


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping key and list item."""


def _line_map(text: str, source: str) -> dict[tuple[Any, ...], int]:
    try:
        root = yaml.compose(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CodebookError(f"{source}{line}: malformed YAML: {problem}") from None
    lines: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen: set[Any] = set()
            for key_node, value_node in node.value:
                key = key_node.value
                if key in seen:  # PyYAML would silently keep the last one: a code defined twice
                    raise CodebookError(
                        f"{source}:{key_node.start_mark.line + 1}: duplicate key {key!r} "
                        f"in {_format_loc(path)}"
                    )
                seen.add(key)
                lines[(*path, key)] = key_node.start_mark.line + 1
                walk(value_node, (*path, key))
                lines[(*path, key)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    if root is not None:
        walk(root, ())
    return lines


def _nearest_line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge an extending codebook into its base: mappings merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve_codebook_path(id_or_path: str | Path | None) -> Path:
    """A codebook id (``stics``) or a path to a YAML file."""
    if id_or_path is None:
        id_or_path = DEFAULT_CODEBOOK
    candidate = Path(id_or_path)
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists() or os.sep in str(id_or_path):
        if not candidate.is_file():
            raise CodebookError(f"{candidate}: codebook file not found")
        return candidate
    by_id = CODEBOOK_DIR / f"{id_or_path}.yaml"
    if not by_id.is_file():
        raise CodebookError(
            f"unknown codebook id {str(id_or_path)!r} (available: {', '.join(available_codebooks())})"
        )
    return by_id


def available_codebooks() -> list[str]:
    return sorted(p.stem for p in CODEBOOK_DIR.glob("*.yaml"))


def _read_yaml(path: Path) -> tuple[dict[str, Any], dict[tuple[Any, ...], int], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CodebookError(f"{path}: cannot read codebook: {exc}") from None
    if not text.strip():
        raise CodebookError(f"{path}: codebook file is empty")
    lines = _line_map(text, str(path))
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # e.g. a !!python tag: composed fine, refused by the safe constructor
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CodebookError(f"{path}{line}: malformed YAML: {problem}") from None
    if not isinstance(data, dict):
        raise CodebookError(f"{path}:1: a codebook must be a YAML mapping with id, version, groups and codes")
    return data, lines, text


def _fill_code_ids(data: dict[str, Any]) -> None:
    """Codes are keyed by id; the id field inside each may be left out."""
    codes = data.get("codes")
    if isinstance(codes, dict):
        for key, spec in codes.items():
            if isinstance(spec, dict):
                spec.setdefault("id", key)


def _raw_codebook(
    path: Path, seen: tuple[Path, ...] = ()
) -> tuple[dict[str, Any], dict[tuple[Any, ...], int], str]:
    resolved = path.resolve()
    if resolved in seen:
        raise CodebookError(
            f"{path}: codebook extends itself (cycle through {', '.join(p.name for p in seen)})"
        )
    data, lines, text = _read_yaml(path)
    _fill_code_ids(data)
    parent = data.get("extends")
    if parent:
        parent_path = resolve_codebook_path(
            parent if not str(parent).endswith((".yaml", ".yml")) else path.parent / parent
        )
        base, _, base_text = _raw_codebook(parent_path, (*seen, resolved))
        vocabulary = [*base.get("vocabulary", []), *data.get("vocabulary", [])]
        data = _deep_merge(base, data)
        data["extends"] = parent
        if vocabulary:  # lists replace in a merge; a team's vocabulary adds to its base's instead
            data["vocabulary"] = list(dict.fromkeys(vocabulary))
        text = base_text + "\n---\n" + text
    return data, lines, text


@cache
def _load_cached(path_str: str, mtime_ns: int) -> Codebook:
    path = Path(path_str)
    data, lines, text = _raw_codebook(path)
    try:
        codebook = Codebook.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        line = _nearest_line(lines, loc)
        where = f"{path}:{line}" if line else str(path)
        message = first["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more error(s))" if exc.error_count() > 1 else ""
        raise CodebookError(f"{where}: {_format_loc(loc)}: {message}{more}") from None
    codebook.path = str(path)
    codebook.sha256 = sha256_text(text)
    _check_patterns(codebook, lines, path)
    return codebook


def _check_patterns(codebook: Codebook, lines: dict[tuple[Any, ...], int], path: Path) -> None:
    """Compile every spaCy token pattern once, so a malformed one fails at load, naming its line."""
    from spacy.lang.en import English
    from spacy.matcher import Matcher

    vocab = English().vocab
    for code in codebook.codes.values():
        for r_index, rule in enumerate(code.rules):
            for p_index, pattern in enumerate(rule.patterns):
                try:
                    Matcher(vocab, validate=True).add("check", [pattern])
                except Exception as exc:  # spaCy raises ValueError/MatchPatternError with a long message
                    loc = ("codes", code.id, "rules", r_index, "patterns", p_index)
                    line = _nearest_line(lines, loc)
                    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise CodebookError(
                        f"{path}:{line}: {_format_loc(loc)}: invalid spaCy pattern: {first_line}"
                    ) from None


def load_codebook(id_or_path: str | Path | None = None) -> Codebook:
    """Load and validate a codebook by id (``stics``) or path; cached per file version.

    >>> cb = load_codebook("stics")
    >>> cb.codes["mi.open_question"].group
    'mi'
    """
    path = resolve_codebook_path(id_or_path)
    return _load_cached(str(path.resolve()), path.stat().st_mtime_ns)
