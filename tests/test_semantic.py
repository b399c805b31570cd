"""The semantic coder: prototypes come from the codebook, evidence is kept, new codes keep to their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from sessioncoder.coding.codebook import load_codebook
from sessioncoder.coding.combine import code_utterances, default_coders
from sessioncoder.coding.semantic import SemanticCoder, build_prototypes
from sessioncoder.models.encoder import get_encoder
from sessioncoder.schema import Utterance

BOOK = load_codebook("stics")
NEW_CODES = ("behavioural.community_resources", "structuring.plan_link")


@pytest.fixture(scope="module")
def encoder():
    return get_encoder(threads=1)


def officer(text: str, index: int = 1) -> list[Utterance]:
    return [
        Utterance(
            index=0, speaker="SU", role="client", text="I've been struggling to keep on top of things."
        ),
        Utterance(index=index, speaker="PO", role="officer", text=text),
    ]


def custom_codebook(tmp_path, threshold: float, prototypes: list[str]):
    path = tmp_path / f"ourteam_{len(prototypes)}_{int(threshold * 100)}.yaml"
    listed = "".join(f"      - {p}\n" for p in prototypes)
    path.write_text(
        'id: ourteam\nversion: "1.0"\nname: Our local variant\nextends: stics\ncodes:\n'
        "  cognitive.thinking_report:\n"
        "    name: Thinking report\n    group: cognitive\n    applies_to: officer\n    stics_area: cognitive\n"
        "    definition: Walks through a thinking report with the client.\n"
        f"    semantic_threshold: {threshold}\n"
        f"    prototypes:\n{listed}"
        "    counter_examples:\n      - Can you report to reception on Thursday?\n",
        encoding="utf-8",
    )
    return load_codebook(path)


def test_prototypes_come_from_a_custom_codebook(tmp_path, encoder):
    """A code added in YAML only, with no rules, is found by paraphrase, with its nearest example as evidence."""
    book = custom_codebook(
        tmp_path,
        0.45,
        [
            "Let's fill in a thinking report about what happened on Friday.",
            "Write down the situation, your thoughts, your feelings and what you did.",
        ],
    )
    coder = SemanticCoder(book, encoder)
    codes = coder.code(officer("Shall we do one of those thinking reports about the fight at the weekend?"))
    found = [a for a in codes[1] if a.code == "cognitive.thinking_report"]
    assert found, codes[1]
    assert found[0].source == "semantic" and found[0].rule == "semantic:cognitive.thinking_report"
    assert found[0].evidence.startswith("nearest example (0.")
    assert "thinking report" in found[0].evidence
    assert not any(a.code == "cognitive.thinking_report" for a in codes[0])  # officer code, client line

    # The same utterance with the team's threshold raised: the codebook alone changed the outcome.
    strict = SemanticCoder(custom_codebook(tmp_path, 0.99, ["Let's fill in a thinking report."]), encoder)
    assert not any(a.code == "cognitive.thinking_report" for a in strict.code(officer("Shall we do one?"))[1])


def test_counter_example_vetoes_when_nearer(tmp_path, encoder):
    book = custom_codebook(tmp_path, 0.3, ["Let's fill in a thinking report about Friday."])
    coder = SemanticCoder(book, encoder)
    codes = coder.code(officer("Can you report to reception on Thursday?"))
    assert not any(a.code == "cognitive.thinking_report" for a in codes[1])


def test_prototype_embeddings_are_cached(tmp_path, monkeypatch, encoder):
    monkeypatch.setenv("SESSIONCODER_CACHE", str(tmp_path / "cache"))
    book = custom_codebook(tmp_path, 0.6, ["Let's fill in a thinking report together."])
    first = build_prototypes(book, encoder)
    assert build_prototypes(book, encoder) is first  # memory
    files = list((tmp_path / "cache" / "prototypes").glob("*.npy"))
    assert len(files) == 1
    assert np.load(files[0]).shape[0] == first.pos.shape[0] + first.neg.shape[0]


def test_thresholds_are_data_in_the_shipped_codebook():
    tuned = [c for c in BOOK.codes.values() if c.semantic_threshold is not None]
    assert tuned, "scripts/tune_semantic.py --write sets them"
    assert all(0.0 < c.semantic_threshold < 1.0 for c in tuned)


@pytest.fixture(scope="module")
def full_coders():
    coders, warnings = default_coders(BOOK)
    assert not [w for w in warnings if "semantic" in w], warnings
    return coders


@pytest.mark.parametrize(
    ("code_id", "text"),
    [(c, e.text) for c in NEW_CODES for e in BOOK.codes[c].counter_examples],
)
def test_new_code_counter_examples_do_not_fire(full_coders, code_id, text):
    """With every coder on (rules, MI model, semantic), a counter-example of a new code does not get it."""
    utterances = officer(text)
    codes = code_utterances(utterances, BOOK, full_coders)
    assert code_id not in {a.code for a in codes[1]}


@pytest.mark.parametrize(
    ("code_id", "text"), [(c, e.text) for c in NEW_CODES for e in BOOK.codes[c].examples]
)
def test_new_code_examples_fire(full_coders, code_id, text):
    codes = code_utterances(officer(text), BOOK, full_coders)
    assert code_id in {a.code for a in codes[1]}


def test_model_and_rule_codes_work_together(full_coders):
    """A question that reviews homework is both structuring.review and a question code."""
    text = "Last time you said you'd keep a drink diary. Did you manage to fill it in?"
    codes = {a.code for a in code_utterances(officer(text), BOOK, full_coders)[1]}
    assert "structuring.review" in codes and "mi.closed_question" in codes


def test_every_assignment_keeps_its_evidence(full_coders):
    utterances = [
        Utterance(index=0, speaker="PO", role="officer", text="How have things been since last week?"),
        Utterance(index=1, speaker="SU", role="client", text="I got the eviction notice and I'm skint."),
        Utterance(index=2, speaker="PO", role="officer", text="I'll phone the rent bank with you right now."),
    ]
    for assignments in code_utterances(utterances, BOOK, full_coders):
        for a in assignments:
            assert a.rule, a
            if a.source == "semantic":
                assert a.evidence and a.evidence.startswith("nearest example")
