"""The trained code model: features from the shared embeddings, thresholds, roles, refusal of a wrong model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sessioncoder.coding.code_model import (
    DISCUSSION,
    SOURCE,
    CodeModel,
    CodeModelCoder,
    Lexicon,
    context_features,
    default_model_dir,
    load_code_model,
    model_features,
    terms,
)
from sessioncoder.coding.codebook import load_codebook
from sessioncoder.coding.combine import code_utterances, combine, default_coders
from sessioncoder.coding.reliability import reliability_path
from sessioncoder.errors import ModelError
from sessioncoder.fileio import sha256_file
from sessioncoder.schema import CodeAssignment, Utterance

BOOK = load_codebook("stics")
DIM = 4
AFFIRM, DRINK = "relationship.affirmation", "topic.substance_use"
VOCABULARY = ["pint", "the pub"]


class AxisEncoder:
    """Embeds a text on axis 0 if it praises, axis 1 if it mentions drink, axis 3 otherwise."""

    onnx_path = "axis"

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            low = t.lower()
            out[i, 0] = "well done" in low
            out[i, 1] = "drink" in low
            out[i, 3] = not (out[i, 0] or out[i, 1])
        return out


def write_model(
    folder,
    codes=(AFFIRM, DRINK),
    thresholds=(0.5, 0.5),
    encoder_sha="abc",
    owns=(),
    gates=None,
    calibration=None,
):
    folder.mkdir(parents=True, exist_ok=True)
    dense = 5 * DIM + 4
    weights = np.zeros((dense + 2 * len(VOCABULARY), len(codes)), dtype=np.float32)
    weights[0, 0] = 8.0  # the utterance's own praise axis
    weights[1, 1] = 8.0  # its own drink axis
    weights[DIM + 1, 1] = 8.0  # the previous utterance's drink axis: a short answer stays on drink
    weights[dense + len(VOCABULARY) + 1, 1] = 8.0  # "the pub" said within the window: drink talk
    weights[dense, 1] = 8.0  # "pint" in the utterance itself
    bias = np.full(len(codes), -4.0, dtype=np.float32)
    np.savez_compressed(
        folder / "weights.npz",
        weights=weights,
        bias=bias,
        vocabulary=np.array(VOCABULARY),
        idf=np.array([2.0, 3.0]),
    )
    config = {
        "name": "test-codes",
        "version": "0.1",
        "feature_version": 3,
        "lexicon": {"window": 1, "weight": 1.0},
        "codes": list(codes),
        "thresholds": dict(zip(codes, thresholds, strict=True)),
        "owns": list(owns),
        "session_gates": gates or {},
        "calibration": calibration or {},
        "encoder_adapters_sha256": encoder_sha,
        "weights_sha256": sha256_file(folder / "weights.npz"),
    }
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder


def session(*lines: tuple[str, str]) -> list[Utterance]:
    return [Utterance(index=i, speaker=r, role=r, text=t) for i, (r, t) in enumerate(lines)]


def test_features_join_neighbours_and_the_talk_around():
    emb = np.arange(5 * DIM, dtype=np.float32).reshape(5, DIM)
    rows = context_features(emb, ["officer", "client"] * 2 + ["officer"], ["Why?", "a b c", "x", "y", "z"])
    assert rows.shape == (5, 5 * DIM + 4)
    assert np.allclose(rows[2, :DIM], emb[2])
    assert np.allclose(rows[2, DIM : 2 * DIM], emb[1]) and np.allclose(rows[0, DIM : 2 * DIM], 0)
    assert np.allclose(rows[2, 2 * DIM : 3 * DIM], emb[3]) and np.allclose(rows[4, 2 * DIM : 3 * DIM], 0)
    assert np.allclose(rows[0, 3 * DIM : 4 * DIM], emb[1:4].mean(0))  # itself left out
    # the discussion: everything within DISCUSSION either side, itself included, at unit length
    discussion = emb.sum(0) / np.linalg.norm(emb.sum(0))
    assert np.allclose(rows[0, 4 * DIM : 5 * DIM], discussion) and np.allclose(
        rows[4, 4 * DIM : 5 * DIM], discussion
    )
    # ... and no further: in a long session the first line's discussion ends DISCUSSION lines on
    long = np.random.default_rng(0).random((3 * DISCUSSION, DIM)).astype(np.float32)
    first = context_features(long, ["client"] * len(long), ["x"] * len(long))[0, 4 * DIM : 5 * DIM]
    reach = long[: DISCUSSION + 1].sum(0)
    assert np.allclose(first, reach / np.linalg.norm(reach), atol=1e-6)
    assert list(rows[0, -4:-1]) == [1.0, 0.0, 1.0] and list(rows[1, -4:-1]) == [0.0, 1.0, 0.0]


def test_terms_are_words_and_word_pairs_whatever_the_apostrophe():
    assert terms("I\u2019m at THE pub.") == {"i'm", "at", "the", "pub", "i'm at", "at the", "the pub"}
    assert terms("...") == set()


def test_lexicon_reads_the_utterance_and_the_talk_around_it():
    """Own terms by idf, unit length; the window's sum of them, unit length; then the weight."""
    lexicon = Lexicon(VOCABULARY, np.array([2.0, 3.0]), window=1, weight=2.0)
    rows = lexicon.features(["A pint at the pub.", "Nothing.", "Fine.", "Another pint?"]).toarray()
    assert rows.shape == (4, 4)
    own, around = rows[:, :2], rows[:, 2:]
    assert np.allclose(own[0], 2.0 * np.array([2.0, 3.0]) / np.hypot(2.0, 3.0))
    assert np.allclose(own[1], 0) and np.allclose(own[3], [2.0, 0.0])
    assert np.allclose(around[1], own[0])  # the line before, within the window
    assert np.allclose(around[2], [2.0, 0.0])  # only "pint" from the line after
    assert lexicon.features([]).shape == (0, 4)
    fitted = Lexicon.fit([["the pub", "the pub again"], ["a pint"]], min_documents=2)
    assert fitted.vocabulary == ["pub", "the", "the pub"]
    assert np.allclose(fitted.idf, np.log(3 / 2))


def test_a_topic_word_in_the_window_carries_the_topic(tmp_path):
    """The short answer two lines on stays on drink because "the pub" was said next to it."""
    coder = CodeModelCoder(BOOK, CodeModel(write_model(tmp_path / "m")), AxisEncoder(), "abc")
    utts = session(
        ("officer", "Where were you on Friday?"),
        ("client", "At the pub, where else."),
        ("officer", "And after?"),
        ("client", "Home."),
    )
    ids = [{a.code for a in per} for per in coder.code(utts)]
    assert ids == [{DRINK}, {DRINK}, {DRINK}, set()]


def test_evidence_names_the_words_that_spoke_for_the_code(tmp_path):
    """A trainer sees why: the utterance's own terms that raised the code, none when words played no part."""
    coder = CodeModelCoder(BOOK, CodeModel(write_model(tmp_path / "m")), AxisEncoder(), "abc")
    utts = session(("client", "Just a pint after work."), ("officer", "Well done for saying so."))
    codes = coder.code(utts)
    drink = next(a for a in codes[0] if a.code == DRINK)
    assert drink.evidence.endswith("; words: 'pint'")
    praise = next(a for a in codes[1] if a.code == AFFIRM)
    assert "words:" not in praise.evidence  # the embedding's praise axis alone


def test_codes_fire_by_threshold_and_role_with_evidence(tmp_path):
    coder = CodeModelCoder(BOOK, CodeModel(write_model(tmp_path / "m")), AxisEncoder(), "abc")
    utts = session(
        ("officer", "How much did you drink at the weekend?"),
        ("client", "Most nights, to be honest."),
        ("officer", "Well done for telling me straight."),
        ("client", "Well done me, eh."),
        ("client", "Yeah."),
    )
    codes = coder.code(utts)
    ids = [{a.code for a in per} for per in codes]
    assert ids[0] == {DRINK}
    assert ids[1] == {DRINK}  # from the question it answers
    assert ids[2] == {AFFIRM}
    assert AFFIRM not in ids[3]  # an officer code never lands on a client line
    assert ids[4] == set()  # a bare backchannel is coded as nothing
    found = codes[2][0]
    assert found.source == SOURCE and found.confidence > 0.9 and "probability" in (found.evidence or "")
    stricter = coder.assign(
        utts,
        coder.model.probabilities(
            model_features(
                AxisEncoder().encode([u.text for u in utts]),
                [u.role for u in utts],
                [u.text for u in utts],
                coder.model.lexicon,
            )
        ),
        thresholds=np.array([0.999, 0.999]),
    )
    assert all(not per for per in stricter)


def test_a_session_gate_keeps_a_code_out_of_a_session_where_the_model_is_never_sure(tmp_path):
    """Gated codes mark the session (a summary, pro-criminal talk): one lukewarm line must not flag it."""
    utts = session(("officer", "Well done for coming."), ("client", "Cheers."))
    open_gate = CodeModelCoder(
        BOOK, CodeModel(write_model(tmp_path / "a", gates={AFFIRM: 0.9})), AxisEncoder(), "abc"
    )
    assert AFFIRM in {a.code for a in open_gate.code(utts)[0]}  # p = 0.98 reaches the gate
    shut = CodeModelCoder(
        BOOK, CodeModel(write_model(tmp_path / "b", gates={AFFIRM: 0.99})), AxisEncoder(), "abc"
    )
    assert shut.code(utts)[0] == []


def test_confidence_is_how_often_trainers_agreed_at_that_probability(tmp_path):
    """Calibrated: the review mark follows the measured agreement, not the raw probability."""
    platt = {AFFIRM: [0.5, -1.0]}  # at log-odds 4 (p 0.98): 0.5 * 4 - 1 = 1, so 73%
    model = CodeModel(write_model(tmp_path / "m", calibration=platt))
    found = CodeModelCoder(BOOK, model, AxisEncoder(), "abc").code(session(("officer", "Well done.")))[0][0]
    assert found.confidence == pytest.approx(1 / (1 + np.exp(-1.0)), abs=1e-3)
    assert "probability 0.98" in (found.evidence or "") and "agreed 73%" in (found.evidence or "")


def test_refuses_a_model_that_does_not_fit(tmp_path):
    folder = write_model(tmp_path / "m")
    with pytest.raises(ModelError, match="another version of the MI encoder"):
        CodeModelCoder(BOOK, CodeModel(folder), AxisEncoder(), "not-abc")
    unknown = write_model(tmp_path / "u", codes=("relationship.flattery", DRINK))
    with pytest.raises(ModelError, match=r"relationship\.flattery"):
        CodeModelCoder(BOOK, CodeModel(unknown), AxisEncoder(), "abc")
    tampered = write_model(tmp_path / "t")
    with np.load(tampered / "weights.npz") as arrays:
        np.savez_compressed(tampered / "weights.npz", **{**arrays, "weights": arrays["weights"] * 2})
    with pytest.raises(ModelError, match="do not match"):
        CodeModel(tampered)
    with pytest.raises(ModelError, match="not found"):
        CodeModel(tmp_path / "absent")


def test_owned_codes_come_from_the_model_alone(tmp_path):
    """A code the model owns: the rules' guess is dropped, the model's decision stands."""
    coder = CodeModelCoder(BOOK, CodeModel(write_model(tmp_path / "m", owns=(AFFIRM,))), AxisEncoder(), "abc")
    assert coder.owned_codes == {AFFIRM}

    class Rules:
        name, owned_codes = "rules", frozenset()

    rule_guess = [[CodeAssignment(code=AFFIRM, confidence=0.9, source="rule")]]
    merged = combine([(Rules(), rule_guess), (coder, [[]])], 1, BOOK)
    assert merged == [[]]


def test_shipped_model_fits_the_shipped_mi_encoder_and_codes():
    """models/stics matches models/mi's adapters; the default coders include it and it codes a session."""
    model = load_code_model()
    assert (
        model.config["encoder_adapters_sha256"]
        == json.loads((default_model_dir().parent / "mi" / "config.json").read_text(encoding="utf-8"))[
            "adapters_sha256"
        ]
    ), "models/mi changed: retrain the code model (scripts/train_code_model.py --write)"
    assert set(model.codes) <= set(BOOK.codes)
    coders, warnings = default_coders(BOOK)
    assert "code-model" in [c.name for c in coders] and not [w for w in warnings if "code model" in w]
    utts = session(
        ("officer", "Let's look at that thinking report. What went through your head when he squared up?"),
        ("client", "That I had to hit him first or I'd look weak."),
        ("officer", "So the thought was: if I don't hit first, I look weak. Is that thought true?"),
    )
    coded = code_utterances(utts, BOOK, coders)
    assert any(a.source == SOURCE for per in coded for a in per)


def test_the_reports_trust_figures_were_measured_with_the_shipped_code_model():
    """The "how far to trust" figures describe the coder that ships, not an earlier one."""
    recorded = json.loads(reliability_path(BOOK.path).read_text(encoding="utf-8"))
    assert recorded["models"]["code-model"] == load_code_model().config["weights_sha256"], (
        "re-run scripts/measure_reliability.py --write after retraining the code model"
    )


def test_a_codebook_can_turn_the_model_off_or_point_elsewhere(tmp_path):
    path = tmp_path / "nomodel.yaml"
    path.write_text(
        'id: nomodel\nversion: "1.0"\nname: No code model\nextends: stics\nsettings:\n  code_model:\n    enabled: false\n',
        encoding="utf-8",
    )
    coders, _ = default_coders(load_codebook(path))
    assert "code-model" not in [c.name for c in coders]
    copy = tmp_path / "copy"
    shutil.copytree(default_model_dir(), copy)
    other = tmp_path / "other.yaml"
    other.write_text(
        f'id: other\nversion: "1.0"\nname: Elsewhere\nextends: stics\nsettings:\n  code_model:\n    model: {copy}\n',
        encoding="utf-8",
    )
    coders, _ = default_coders(load_codebook(other))
    found = [c for c in coders if c.name == "code-model"]
    assert found and found[0].model.model_dir == copy.resolve()


def test_the_command_line_codes_with_and_without_the_code_model(tmp_path, no_network):
    """`sessioncoder code` uses the code model by default, offline; --no-code-model leaves it out."""
    from conftest import FIXTURES

    from sessioncoder.cli import main
    from sessioncoder.schema import CodedSession

    transcript = FIXTURES / "transcripts" / "supervision.txt"
    runs = {}
    for label, extra in (("with", []), ("without", ["--no-code-model"])):
        out = tmp_path / label
        assert main(["code", str(transcript), "-o", str(out), "--format", "json", *extra]) == 0
        runs[label] = CodedSession.load(out / "supervision.session.json")
    assert "code-model" in runs["with"].settings["coders"]
    assert any(a.source == SOURCE for u in runs["with"].utterances for a in u.codes)
    assert "code-model" not in runs["without"].settings["coders"]
    assert not any(a.source == SOURCE for u in runs["without"].utterances for a in u.codes)
    assert any(m.task == "code-model" for m in runs["with"].models)


def test_a_batch_passes_no_code_model_to_every_session(tmp_path, no_network):
    from conftest import FIXTURES

    from sessioncoder.cli import main
    from sessioncoder.schema import CodedSession

    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(FIXTURES / "transcripts" / "supervision.txt", inputs / "one.txt")
    out = tmp_path / "out"
    assert main(["batch", str(inputs), "-o", str(out), "--no-code-model", "--format", "json"]) == 0
    session = CodedSession.load(out / "one.session.json")
    assert session.settings["coders"] == ["rules", "sessioncoder-mi", "semantic"]
