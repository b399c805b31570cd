"""Coding: codebooks as data, the coders (rules, the trained MI model, the semantic coder), topic
segments, and how their codes combine.
Imports the core modules and ``models``; nothing about speech, reports or research.
"""

from sessioncoder.coding.base import Coder
from sessioncoder.coding.combine import (
    apply_implications,
    apply_overrides,
    code_utterances,
    combine,
    default_coders,
    merge_codes,
    run_coders,
    strip_role_play,
)

__all__ = [
    "Coder",
    "apply_implications",
    "apply_overrides",
    "code_utterances",
    "combine",
    "default_coders",
    "merge_codes",
    "run_coders",
    "strip_role_play",
]
