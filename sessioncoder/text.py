"""Small text helpers shared by the rule coder and the trained model."""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z][a-z']*")


def words(text: str) -> list[str]:
    """The lower-cased words of a text, apostrophes kept inside them (typographic ones made plain).

    One tokenisation for the topic segments and the code model's lexicon.

    >>> words("I’m back at the hostel, 'cause...")
    ["i'm", 'back', 'at', 'the', 'hostel', 'cause']
    """
    return _WORD.findall(text.lower().replace("\u2019", "'"))


# Function words and fillers left out when asking how many of the client's
# content words a practitioner's turn echoes (the cue for a simple reflection).
# The trained MI model's features use this list: changing it means retraining.
STOP_WORDS: frozenset[str] = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "at",
        "be",
        "been",
        "but",
        "do",
        "don't",
        "for",
        "he",
        "i",
        "in",
        "is",
        "it",
        "just",
        "know",
        "like",
        "me",
        "mean",
        "my",
        "not",
        "of",
        "oh",
        "ok",
        "okay",
        "on",
        "or",
        "really",
        "right",
        "she",
        "so",
        "that",
        "the",
        "they",
        "this",
        "to",
        "uh",
        "um",
        "was",
        "we",
        "well",
        "were",
        "with",
        "yeah",
        "you",
        "your",
    ]
)
