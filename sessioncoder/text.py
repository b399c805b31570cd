"""Small text helpers shared by the rule coder and the trained model."""

from __future__ import annotations

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
