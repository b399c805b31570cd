"""Write the MI coder's fp32 reference for a fixture session (``tests/fixtures/mi/fp32_reference.json``).

    .venv/bin/python scripts/make_mi_reference.py

The reference is what fp32 torch gives (adapters merged, no quantisation, no
onnxruntime): per utterance the label and the temperature-scaled head logits.
``tests/test_mi_portable.py`` checks on whatever CPU runs it that the shipped
encoder gives these labels and logits within ``logit_tolerance``. Run this again
after retraining the MI coder (the test refuses a reference whose hashes do not
match ``models/mi/config.json``). An utterance whose decision is closer than
:func:`decision_margin` allows is marked ``label_checked: false``: there, logits
within the tolerance would not imply the same label, so the test checks its logits
only. (The context network codes each utterance with its neighbours, so such an
utterance cannot simply be left out of the session.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sessioncoder.coding.mi.coder import load_mi_coder  # noqa: E402
from sessioncoder.coding.mi.context import softmax  # noqa: E402
from sessioncoder.coding.mi.heads import decide_therapist, group_proba, therapist_group  # noqa: E402
from sessioncoder.fileio import write_text_atomic  # noqa: E402
from sessioncoder.transcripts import read_transcript  # noqa: E402

SESSION = REPO / "tests" / "fixtures" / "transcripts" / "supervision.txt"
OUT = REPO / "tests" / "fixtures" / "mi" / "fp32_reference.json"
# |logit difference| allowed between the shipped encoder and fp32 torch. fp32 onnxruntime differs from
# fp32 torch by about 3e-6 on the dev split; the int8 build by up to 0.4 (MODEL_CARD.md).
LOGIT_TOLERANCE = 1e-3


def decision_margin(logits: np.ndarray, classes: tuple[str, ...], role: str) -> float:
    """How far the decision is from changing, in probability: the smallest gap it rests on.

    The practitioner decision picks a main behaviour by summed probability, then its likeliest
    subtype (``decide_therapist``); the client decision is the argmax. Moving every logit by at
    most ``t`` moves a probability (or a sum of them) by at most about ``2 t`` times itself, so
    a gap above ``4 t`` cannot close.
    """
    proba = softmax(logits)
    if role != "officer":
        top = np.sort(proba)[::-1]
        return float(top[0] - top[1])
    groups = np.sort(group_proba(proba[None, :], classes)[0])[::-1]
    label, _ = decide_therapist(proba[None, :], classes)[0]
    members = sorted(
        (proba[k] for k, c in enumerate(classes) if therapist_group(c) == therapist_group(label)),
        reverse=True,
    )
    subtype = members[0] - members[1] if len(members) > 1 else 1.0
    return float(min(groups[0] - groups[1], subtype))


def main() -> int:
    import torch

    torch.set_num_threads(1)
    coder = load_mi_coder()
    utterances = read_transcript(SESSION).utterances
    texts = [u.text for u in utterances]
    roles = [
        u.speaker.lower() if u.speaker.lower() in ("officer", "client") else "unknown" for u in utterances
    ]
    emb = coder.reference_embeddings(texts)
    labels = [label for label, _ in coder.predict(texts, roles, emb)]
    logits = coder.head_logits(texts, roles, emb)
    rows = []
    for text, role, label, z in zip(texts, roles, labels, logits, strict=True):
        classes = coder.therapist.classes if role == "officer" else coder.client.classes
        checked = z is None or decision_margin(z, classes, role) > 4 * LOGIT_TOLERANCE
        rows.append(
            {
                "role": role,
                "text": text,
                "label": label,
                "label_checked": checked,
                "logits": None if z is None else [round(float(v), 6) for v in z],
            }
        )
    reference = {
        "about": "fp32 torch reference of the MI coder on a fixture session; scripts/make_mi_reference.py",
        "session": str(SESSION.relative_to(REPO)),
        "adapters_sha256": coder.config.get("adapters_sha256"),
        "weights_sha256": coder.config.get("weights_sha256"),
        "temperatures": [coder.therapist.temperature, coder.client.temperature],
        "logit_tolerance": LOGIT_TOLERANCE,
        "utterances": rows,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(OUT, json.dumps(reference, indent=1) + "\n")
    unchecked = sum(not r["label_checked"] for r in rows)
    print(
        f"wrote {OUT.relative_to(REPO)}: {len(rows)} utterances, {unchecked} too near a boundary for labels"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
