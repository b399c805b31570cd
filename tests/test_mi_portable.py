"""The shipped MI encoder gives the fp32 reference's labels on whatever CPU runs these tests.

``fixtures/mi/fp32_reference.json`` (``scripts/make_mi_reference.py``) holds, for a
fixture session, the labels and temperature-scaled head logits of fp32 torch:
adapters merged, no quantisation, no onnxruntime. onnxruntime's int8 kernels take
different paths with and without VNNI (AVX2-only x86, AVX-512, aarch64), so a
quantised build's labels can move with the CPU; fp32 kernels differ only in
rounding (about 1e-6). So these tests pass on any CPU with an fp32 build and fail
on any CPU if the shipped build drifts from fp32 by more than the tolerance.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FIXTURES, REPO

from sessioncoder.coding.mi.coder import load_mi_coder
from sessioncoder.models import lora
from sessioncoder.models.encoder import SentenceEncoder

REFERENCE = json.loads((FIXTURES / "mi" / "fp32_reference.json").read_text(encoding="utf-8"))
TOLERANCE = REFERENCE["logit_tolerance"]  # 1e-3: fp32 builds differ by ~3e-6, the int8 build by up to 0.4
TEXTS = [u["text"] for u in REFERENCE["utterances"]]
ROLES = [u["role"] for u in REFERENCE["utterances"]]


@pytest.fixture(scope="module")
def coder():
    return load_mi_coder()


def _decisions(coder, emb: np.ndarray) -> tuple[list[str], list[np.ndarray | None]]:
    return [label for label, _ in coder.predict(TEXTS, ROLES, emb)], coder.head_logits(TEXTS, ROLES, emb)


def _drift(logits: list[np.ndarray | None]) -> float:
    """The largest |logit difference| from the reference over the session."""
    return max(
        float(np.abs(np.asarray(u["logits"]) - z).max())
        for u, z in zip(REFERENCE["utterances"], logits, strict=True)
        if z is not None
    )


def _checked_labels(labels: list[str]) -> tuple[list[str], list[str]]:
    """(labels given, reference labels) on the utterances whose decision is clear of the tolerance."""
    keep = [k for k, u in enumerate(REFERENCE["utterances"]) if u.get("label_checked", True)]
    return [labels[k] for k in keep], [REFERENCE["utterances"][k]["label"] for k in keep]


def test_reference_is_for_the_shipped_model(coder):
    config = json.loads((REPO / "models" / "mi" / "config.json").read_text(encoding="utf-8"))
    stale = "the MI model changed: run scripts/make_mi_reference.py"
    assert REFERENCE["adapters_sha256"] == config["adapters_sha256"], stale
    assert REFERENCE["weights_sha256"] == config["weights_sha256"], stale
    assert np.allclose(REFERENCE["temperatures"], [coder.therapist.temperature, coder.client.temperature]), (
        stale
    )
    # both heads, several classes each: a session that tests the decisions, not one answer
    labels = [u["label"] for u in REFERENCE["utterances"]]
    assert {"officer", "client"} <= set(ROLES) and len(set(labels)) >= 6
    # nearly every decision is clear enough to be checked as a label, not only as logits
    assert sum(u.get("label_checked", True) for u in REFERENCE["utterances"]) >= 0.9 * len(labels)


def test_shipped_encoder_gives_the_fp32_labels_on_this_cpu(coder, no_network):
    assert coder.encoder.quantisation == lora.BUILDS[lora.SHIPPED_BUILD]
    labels, logits = _decisions(coder, coder.encoder.encode(TEXTS))
    given, expected = _checked_labels(labels)
    assert given == expected
    assert _drift(logits) <= TOLERANCE


def test_fp32_torch_on_this_cpu_gives_the_reference(coder):
    """The reference is what fp32 says here too, not only on the machine that wrote it."""
    labels, logits = _decisions(coder, coder.reference_embeddings(TEXTS))
    given, expected = _checked_labels(labels)
    assert given == expected
    assert _drift(logits) <= TOLERANCE


def test_an_int8_build_fails_the_check(coder, tmp_path):
    """The check above is not vacuous: the int8 build of the same network drifts far past the tolerance."""
    fp32 = lora.adapted_encoder_onnx(coder.model_dir / coder.config["features"]["adapters"], build="fp32")
    int8 = tmp_path / "int8.onnx"
    lora.quantise_int8(fp32, int8)
    _, logits = _decisions(coder, SentenceEncoder(max_length=coder.max_length, onnx_path=int8).encode(TEXTS))
    assert _drift(logits) > 10 * TOLERANCE


def test_models_command_reports_the_quantisation(coder):
    from sessioncoder.cli.models import list_models

    rows = {r.task: r for r in list_models(join=False)}
    assert rows["sentence-encoder"].quantisation == lora.BUILDS[lora.SHIPPED_BUILD]
    assert rows["sentence-encoder"].to_dict()["quantisation"] == "none (fp32)"
