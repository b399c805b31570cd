"""Measure the shipped codebook's agreement with a trainer on the STICS dev set's checking half.

    .venv/bin/python scripts/measure_reliability.py [--codebook stics] [--write]

Codes the checking half of ``bench/stics_dev`` (sessions that no rule, threshold
or model was tuned on) as ``sessioncoder code`` does, compares with the human
codes per utterance, prints per-code F1, and with ``--write`` saves them beside the
codebook (``codebooks/stics.reliability.json``) for the report's "How far to trust
these codes". Run it again whenever the codebook, the MI model or the code model changes (a test
checks that the shipped figures belong to the shipped codebook).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.stics import DEV, halves  # noqa: E402
from sessioncoder.coding.code_model import load_code_model  # noqa: E402
from sessioncoder.coding.codebook import load_codebook  # noqa: E402
from sessioncoder.coding.mi.coder import load_mi_coder  # noqa: E402
from sessioncoder.coding.reliability import band, reliability_path  # noqa: E402
from sessioncoder.pipeline import code_transcript, read_input  # noqa: E402
from sessioncoder.research.agreement import Coding, compare, read_coding_csv, reliability_of  # noqa: E402

MEASURED_ON = (
    "the checking half of sessioncoder's STICS dev set: {sessions} fictional supervision sessions "
    "({utterances} utterances) written and coded by hand from the codebook specification, which no "
    "rule, threshold or model was tuned on"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codebook", default="stics")
    parser.add_argument("--write", action="store_true", help="save NAME.reliability.json beside the codebook")
    args = parser.parse_args(argv)
    codebook = load_codebook(args.codebook)
    tool = Coding(name="sessioncoder")
    for name in halves()["checking"]:
        session = code_transcript(read_input(DEV / "transcripts" / f"{name}.txt"), codebook)
        for u in session.utterances:
            tool.codes[(name, u.index)] = set(u.code_ids)
    report = compare(tool, read_coding_csv(DEV / "gold.csv"), code_order=list(codebook.codes))
    measured_on = MEASURED_ON.format(sessions=report.n_sessions, utterances=report.n_utterances)
    reliability = reliability_of(report, codebook, measured_on)
    reliability.models = {
        "mi-model": load_mi_coder().config["weights_sha256"],
        "code-model": load_code_model().config["weights_sha256"],
    }
    for code, figures in reliability.codes.items():
        f1 = "  –  " if figures.f1 is None else f"{figures.f1:.3f}"
        print(f"{code:36s} F1 {f1}  human {figures.support:3d}  tool {figures.predicted:3d}  {band(figures)}")
    if args.write:
        path = reliability_path(codebook.path)
        assert path is not None
        print(f"wrote {reliability.save(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
