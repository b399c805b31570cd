"""What every coder provides, so rules and trained models sit side by side.

A coder looks at the whole list of utterances (context matters: a reflection
answers the client's last words) and returns, for each utterance, the codes it
assigns. ``owned_codes`` are the codes a coder decides alone: when a trained
model owns ``mi.*`` question and reflection codes, the combiner drops the rule
coder's guesses for those codes and keeps the model's. A coder that decides codes
from the talk around each line may also say so with ``contextual_codes`` (the code
model does): the topic segments do not carry those topics again.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sessioncoder.schema import CodeAssignment, ModelInfo, Utterance


@runtime_checkable
class Coder(Protocol):
    name: str
    owned_codes: frozenset[str]

    def code(self, utterances: list[Utterance]) -> list[list[CodeAssignment]]:
        """Codes for each utterance, in order; one list per utterance (possibly empty)."""
        ...

    def model_info(self) -> list[ModelInfo]:
        """Models this coder used, for the session's provenance."""
        ...
