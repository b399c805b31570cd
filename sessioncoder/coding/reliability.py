"""How far to trust each code: a codebook's measured agreement with human coders, read from beside it.

A trainer reading "3 restructuring moves" needs to know whether the tool finds
restructuring as a trainer would. The figures come from coding sessions that a
human coded and that nothing was tuned on (for the shipped ``stics`` codebook:
the checking half of ``bench/stics_dev``), as a :class:`~sessioncoder.schema.Reliability`
saved as ``<codebook>.reliability.json`` beside the codebook's YAML. A team that
changes its codebook measures its own with ``sessioncoder agree --reliability-out``.

The figures speak only for the codebook content they were measured with: when
the codebook's hash differs (new rules, re-tuned thresholds), the report says
so instead of showing stale numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from sessioncoder.schema import CodeReliability, Reliability

SUFFIX = ".reliability.json"
GOOD_F1 = 0.75  # the agreement issue 13 asks of the STICS codes
WEAK_F1 = 0.5  # below this a count is a pointer for review, not a measure
FEW_EXAMPLES = 5  # fewer human-coded examples than this: the F1 itself is unsure


@dataclass(frozen=True)
class ReliabilityStatus:
    """The figures that apply to a session's codebook, or why there are none (``note``)."""

    reliability: Reliability | None
    note: str


def reliability_path(codebook_path: str | Path | None) -> Path | None:
    """``codebooks/stics.yaml`` -> ``codebooks/stics.reliability.json``.

    >>> reliability_path("codebooks/stics.yaml").as_posix()
    'codebooks/stics.reliability.json'
    """
    if not codebook_path:
        return None
    path = Path(codebook_path)
    return path.with_name(path.name.removesuffix(path.suffix) + SUFFIX)


def load_reliability(codebook_path: str | Path | None, codebook_sha256: str) -> ReliabilityStatus:
    """The reliability beside a codebook, if it was measured on this very content (``codebook_sha256``)."""
    path = reliability_path(codebook_path)
    if path is None or not path.is_file():
        return ReliabilityStatus(
            None,
            "No agreement figures for this codebook: measure them against your own coders with "
            "`sessioncoder agree ... --reliability-out` (beside the codebook as NAME.reliability.json).",
        )
    try:
        reliability = Reliability.load(path)
    except (OSError, ValueError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        return ReliabilityStatus(None, f"Agreement figures in {path.name} could not be read ({first}).")
    if reliability.sha256 != codebook_sha256:
        return ReliabilityStatus(
            None,
            f"The agreement figures in {path.name} were measured on another version of codebook "
            f"{reliability.codebook} {reliability.version} (its rules or thresholds have changed since): "
            "measure again with `sessioncoder agree ... --reliability-out`.",
        )
    return ReliabilityStatus(reliability, f"Measured on {reliability.measured_on}.")


def band(figures: CodeReliability | None) -> str:
    """``good`` (F1 >= 0.75), ``fair``, ``weak`` (< 0.5), ``few examples`` or ``not measured``.

    >>> band(CodeReliability(f1=0.8, support=12)), band(CodeReliability(f1=0.3, support=12))
    ('good', 'weak')
    >>> band(CodeReliability(f1=2 * 1.0 * 0.6 / 1.6, support=5))
    'good'
    >>> band(CodeReliability(f1=0.9, support=2)), band(None)
    ('few examples', 'not measured')
    """
    if figures is None or (figures.f1 is None and figures.support == 0):
        return "not measured"
    if figures.support < FEW_EXAMPLES:
        return "few examples"
    f1 = round(figures.f1 or 0.0, 3)  # as shown: 3 of 3 found of 5 is 0.75, not 0.7499999
    return "good" if f1 >= GOOD_F1 else "fair" if f1 >= WEAK_F1 else "weak"


def trust_status(session, codebook) -> ReliabilityStatus:
    """The figures for a coded session: beside its codebook, measured on the content it was coded with."""
    recorded = next((c for c in session.codebooks if c.id == getattr(codebook, "id", None)), None)
    sha256 = recorded.sha256 if recorded is not None else getattr(codebook, "sha256", "")
    return load_reliability(getattr(codebook, "path", None), sha256)


def used_codes(session) -> dict[str, int]:
    """How many utterances of the session carry each code, in order of first use."""
    counts: dict[str, int] = {}
    for utterance in session.utterances:
        for code in dict.fromkeys(c.code for c in utterance.codes):  # ordered: the same report every run
            counts[code] = counts.get(code, 0) + 1
    return counts


def weak_codes(trust: ReliabilityStatus) -> dict[str, float]:
    """Codes whose measured agreement is weak (F1 under WEAK_F1 with enough examples), with their F1."""
    if trust.reliability is None:
        return {}
    return {
        code: figures.f1 or 0.0
        for code, figures in trust.reliability.codes.items()
        if band(figures) == "weak"
    }
