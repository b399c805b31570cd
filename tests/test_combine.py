"""How coders' assignments merge: model ownership, the codebook's model floors and the rules' exceptions."""

from __future__ import annotations

from sessioncoder.coding.codebook import load_codebook
from sessioncoder.coding.combine import combine
from sessioncoder.schema import CodeAssignment

BOOK = load_codebook("stics")


class FixedCoder:
    """A coder whose output is given: only the merge is under test here."""

    def __init__(self, name: str, owned: frozenset[str], source: str) -> None:
        self.name, self.owned_codes, self.source = name, owned, source

    def assign(self, code: str, confidence: float) -> CodeAssignment:
        return CodeAssignment(code=code, confidence=confidence, source=self.source, rule=self.name)

    def model_info(self):
        return []


MODEL = FixedCoder("model", frozenset({"mi.giving_information", "mi.simple_reflection"}), "model")
RULES = FixedCoder("rules", frozenset(), "rule")


def merged(model_codes: list[tuple[str, float]], rule_codes: list[tuple[str, float]], book=BOOK) -> set[str]:
    results = [
        (MODEL, [[MODEL.assign(c, p) for c, p in model_codes]]),
        (RULES, [[RULES.assign(c, p) for c, p in rule_codes]]),
    ]
    return {a.code for a in combine(results, 1, book)[0]}


def test_a_model_owned_code_comes_from_the_model_alone():
    assert "mi.simple_reflection" not in merged([], [("mi.simple_reflection", 0.9)])
    assert "mi.simple_reflection" in merged([("mi.simple_reflection", 0.9)], [])


def test_model_codes_below_the_codebooks_floor_are_dropped():
    floor = BOOK.codes["mi.simple_reflection"].model_min_confidence
    assert floor is not None and floor > 0.05
    assert "mi.simple_reflection" not in merged([("mi.simple_reflection", floor - 0.05)], [])
    assert "mi.simple_reflection" in merged([("mi.simple_reflection", min(floor + 0.05, 1.0))], [])


def test_rules_also_give_lets_the_rules_add_a_model_owned_code():
    assert "mi.giving_information" in BOOK.settings.rules_also_give
    assert "mi.giving_information" in merged([], [("mi.giving_information", 0.7)])
    without = BOOK.model_copy(deep=True)
    without.settings.rules_also_give = []
    assert "mi.giving_information" not in merged([], [("mi.giving_information", 0.7)], without)
