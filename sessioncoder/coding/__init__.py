"""Coding: codebooks as data, the coders (rules, the trained MI model) and how their codes combine.
Imports the core modules and ``models``; nothing about speech, reports or research.
"""

from sessioncoder.coding.base import Coder
from sessioncoder.coding.combine import (
    apply_implications,
    carry_topics,
    code_utterances,
    combine,
    default_coders,
    strip_role_play,
)

__all__ = [
    "Coder",
    "apply_implications",
    "carry_topics",
    "code_utterances",
    "combine",
    "default_coders",
    "strip_role_play",
]
