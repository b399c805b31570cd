"""The shipped MI coder: loads offline, codes by role, calibrated confidences, safe weight files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import REPO, SHARED_DATA

from sessioncoder.coding.base import Coder
from sessioncoder.coding.mi.coder import load_mi_coder, weights_name
from sessioncoder.coding.mi.context import ContextNet
from sessioncoder.coding.mi.features import (
    CLIENT_CODES,
    HAND_FEATURES,
    OWNED_CODES,
    PRACTITIONER_CODES,
    context_index,
    hand_features,
    session_features,
)
from sessioncoder.coding.mi.heads import Head, heads_to_arrays
from sessioncoder.errors import ModelError
from sessioncoder.research.annomi import split_transcripts
from sessioncoder.schema import Utterance

MODEL_DIR = REPO / "models" / "mi"

SESSION = [
    ("officer", "Hi Dan, thanks for coming in. How have things been since we last met?"),
    ("client", "Not great. I had a couple of drinks on Friday and ended up in a fight."),
    ("officer", "So the drink and the fighting go together for you."),
    ("client", "Yeah. I really want to stop, I don't want to go back inside."),
    ("officer", "Did you go to the alcohol group on Tuesday?"),
    ("client", "No."),
    ("unknown", "Right, right."),
    ("officer", "You need to stop drinking, it's ruining your life."),
    ("client", "I'm not giving up, drinking is the only thing that calms me down."),
    ("officer", "What would help you cut down?"),
    ("client", "I'm ready to change. I want to get my life back on track."),
]
# What fp32 torch (adapters merged, no quantisation) says, only where its decision is clear:
# the two likeliest classes (or AnnoMI main behaviours) at least 0.5 apart in probability, far more
# than any quantisation or CPU moves them. Utterance 3 is a close call for this model (fp32: sustain
# 0.42, change 0.36), which int8 once tipped one way on AVX-512/VNNI and the other on AVX2-only CPUs;
# test_mi_portable.py checks exact labels and logits against fp32 on a fixture session instead.
CLEAR = {
    0: ["mi.open_question"],
    1: [],  # neutral
    4: ["mi.closed_question"],
    5: [],  # neutral
    9: ["mi.open_question"],
    10: ["client.change_talk"],
}


def _utterances():
    return [Utterance(index=i, speaker=r, role=r, text=t) for i, (r, t) in enumerate(SESSION)]


@pytest.fixture(scope="module")
def coder():
    return load_mi_coder()


def test_loads_offline_and_codes_by_role(coder, no_network):
    assert isinstance(coder, Coder)
    assert coder.owned_codes == OWNED_CODES
    utterances = _utterances()
    codes = coder.code(utterances)
    assert len(codes) == len(utterances)
    for u, assigned in zip(utterances, codes, strict=True):
        assert len(assigned) <= 1
        for c in assigned:
            assert c.source == "model" and c.rule == coder.name
            assert 0.0 <= c.confidence <= 1.0
            allowed = PRACTITIONER_CODES if u.role == "officer" else CLIENT_CODES
            assert c.code in allowed, (u.text, c.code)
    assert codes[6] == []  # unknown role: no MI code
    assert {i: [c.code for c in codes[i]] for i in CLEAR} == CLEAR
    assert all(c.confidence >= 0.6 for i in CLEAR for c in codes[i])  # and confidently so
    info = coder.model_info()
    assert info[0].task == "mi-classifier" and info[0].sha256 and len(info[0].sha256) == 64
    assert any(i.task == "sentence-encoder" for i in info)


def test_empty_session(coder):
    assert coder.code([]) == []


def test_loaded_once_per_process(coder):
    assert load_mi_coder() is coder
    assert load_mi_coder(MODEL_DIR) is coder


def test_missing_or_bad_model_is_one_line_model_error(tmp_path):
    with pytest.raises(ModelError, match="MI model not found"):
        load_mi_coder(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"feature_version": 999}))
    (tmp_path / "heads.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="feature version 999") as info:
        load_mi_coder(tmp_path)
    assert "\n" not in str(info.value)


def test_artefact_is_small_plain_arrays_and_matches_config():
    config = json.loads((MODEL_DIR / "config.json").read_text())
    total = sum(p.stat().st_size for p in MODEL_DIR.iterdir())
    assert total < 50 * 1024 * 1024
    from sessioncoder.fileio import sha256_file

    weights, adapters = MODEL_DIR / weights_name(config), MODEL_DIR / config["features"]["adapters"]
    assert sha256_file(weights) == config["weights_sha256"]
    assert sha256_file(adapters) == config["adapters_sha256"]
    for path in (weights, adapters):
        with np.load(path, allow_pickle=False) as arrays:  # no pickled objects inside
            assert all(arrays[k].dtype == np.float32 for k in arrays.files)
    with np.load(weights, allow_pickle=False) as arrays:
        if config["head"]["kind"] == "context":
            net = ContextNet.from_arrays(arrays, config["head"])
            assert net.arrays["therapist_w"].shape[1] == len(config["therapist"]["classes"])
            assert net.arrays["client_w"].shape[1] == len(config["client"]["classes"])
        else:
            assert "shared_w0" in arrays.files  # the shared hidden layer, stored once
            assert arrays["therapist_w1"].shape[1] == len(config["therapist"]["classes"])
    # adapters only: far fewer numbers than the 22 M of the base encoder
    with np.load(adapters, allow_pickle=False) as arrays:
        assert 10_000 < sum(arrays[k].size for k in arrays.files) < 1_000_000
    for name in ("MODEL_CARD.md", "dev_metrics.json"):
        assert (MODEL_DIR / name).is_file()


def test_heads_share_layers_on_disk_and_load_either_way():
    rng = np.random.default_rng(0)
    hidden_w, hidden_b = rng.normal(size=(6, 4)), rng.normal(size=4)
    heads = {
        name: Head(
            classes=classes,
            mean=np.zeros(6),
            scale=np.ones(6),
            weights=[hidden_w, rng.normal(size=(4, len(classes)))],
            biases=[hidden_b, rng.normal(size=len(classes))],
        )
        for name, classes in (("therapist", ("a", "b", "c")), ("client", ("x", "y")))
    }
    shared = heads_to_arrays(heads)
    assert "shared_w0" in shared and "therapist_w0" not in shared  # the hidden layer is stored once
    per_head = {**heads["therapist"].to_arrays("therapist"), **heads["client"].to_arrays("client")}
    x = rng.normal(size=(3, 6))
    for arrays in (shared, per_head):
        for name, head in heads.items():
            loaded = Head.from_arrays(arrays, name, head.classes, 1.0)
            np.testing.assert_allclose(loaded.proba(x), head.proba(x), rtol=1e-6)
    with pytest.raises(ModelError, match="2 outputs for 3 classes"):
        Head.from_arrays(shared, "client", ("x", "y", "z"), 1.0)
    with pytest.raises(ModelError, match="missing"):
        Head.from_arrays({}, "client", ("x", "y"), 1.0)


def test_tampered_model_file_is_refused(tmp_path):
    import shutil

    for path in MODEL_DIR.iterdir():
        shutil.copy(path, tmp_path / path.name)
    config = json.loads((MODEL_DIR / "config.json").read_text())
    with (tmp_path / weights_name(config)).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelError, match="does not match the sha256") as info:
        load_mi_coder(tmp_path)
    assert "\n" not in str(info.value)


def test_context_index_points_at_neighbours_and_other_speaker():
    roles = ["officer", "client", "client", "officer"]
    index, mask = context_index(roles, n_prev=2, n_next=1)
    # columns: previous, one before that, next, other speaker's last turn
    assert index[0].tolist() == [0, 0, 1, 0] and mask[0].tolist() == [0, 0, 1, 0]
    assert index[2].tolist() == [1, 0, 3, 0] and mask[2].tolist() == [1, 1, 1, 1]
    assert index[3].tolist() == [2, 1, 0, 2] and mask[3].tolist() == [1, 1, 0, 1]


def test_features_use_context():
    texts = ["I keep drinking at the weekend.", "You keep drinking at the weekend?", "Yes."]
    roles = ["client", "officer", "client"]
    hand = hand_features(texts, roles)
    emb = np.eye(3, 8, dtype=np.float32)
    x = session_features(emb, texts, roles, n_prev=2, n_next=1)
    assert x.shape[0] == 3
    # own embedding, then previous, one before, next, other speaker's last, product with the latter
    assert np.array_equal(x[1, :8], emb[1]) and np.array_equal(x[1, 8:16], emb[0])
    assert not x[1, 16:24].any() and np.array_equal(x[1, 24:32], emb[2])
    assert np.array_equal(x[1, 32:40], emb[0]) and not x[1, 40:48].any()  # orthogonal: product is zero
    assert np.array_equal(x[2, 32:40], emb[1])
    # the officer turn echoes the client's content words; the first turn has no one to echo
    echo = HAND_FEATURES.index("echo_other")
    assert hand[1, echo] > 0.5 and hand[0, echo] == 0.0
    assert hand[1, HAND_FEATURES.index("ends_q")] == 1.0


def test_split_is_by_transcript_and_reproducible():
    ids = [str(i) for i in range(50)]
    train, dev = split_transcripts(ids, seed=0, dev_fraction=0.2)
    assert len(dev) == 10 and not set(train) & set(dev) and sorted(train + dev, key=int) == ids
    assert split_transcripts(ids, seed=0, dev_fraction=0.2) == (train, dev)
    assert split_transcripts(ids, seed=1, dev_fraction=0.2)[1] != dev


@pytest.mark.skipif(not (SHARED_DATA / "annomi").is_dir(), reason="../shared/data/annomi absent")
def test_config_records_the_dev_split():
    from sessioncoder.research.annomi import load_annomi

    config = json.loads((MODEL_DIR / "config.json").read_text())
    ids = [t.transcript_id for t in load_annomi(SHARED_DATA / "annomi")]
    split = config["split"]
    _, dev = split_transcripts(ids, split["seed"], split["dev_fraction"])
    assert dev == split["dev_transcripts"]
    if "folds" in split:  # cross-validation: fold 0 is that dev split, the folds partition the 99
        assert split["folds"][0] == dev
        assert sorted(t for fold in split["folds"] for t in fold) == sorted(ids)


@pytest.mark.skipif(not (SHARED_DATA / "annomi").is_dir(), reason="../shared/data/annomi absent")
def test_cross_validation_figures_recompute_from_saved_predictions():
    """cv_metrics.json is what the saved held-out predictions give, fold by fold (bench prints the same)."""
    from sessioncoder.research.annomi import cv_summary, decode_predictions, load_annomi

    saved = json.loads((MODEL_DIR / "cv_predictions.json").read_text())
    recorded = json.loads((MODEL_DIR / "cv_metrics.json").read_text())
    by_id = {t.transcript_id: t for t in load_annomi(SHARED_DATA / "annomi")}
    predictions = decode_predictions(by_id, saved["predictions"])
    folds = [[by_id[t] for t in fold] for fold in saved["folds"]]
    assert not set(saved["folds"][0]) & {t for fold in saved["folds"][1:] for t in fold}
    cv = cv_summary(folds, [{t.transcript_id: predictions[t.transcript_id] for t in f} for f in folds])
    for name in ("therapist_macro_f1_4", "client_macro_f1_3"):
        assert cv[name]["per_fold"] == recorded[name]["per_fold"]
        assert cv[name]["mean"] == pytest.approx(recorded[name]["mean"])
