"""Coding: run every coder over the utterances and merge their codes.

Coders: the rules, the trained MI model, the trained code model and the semantic
coder (prototypes from the codebook); the last three share one embedding pass.
Merge order, each step a plain function over per-utterance code lists:
1. ``combine``: a code owned by a trained model comes from that model alone, at or
   above the code's ``model_min_confidence``, except the ``rules_decide`` codes
   (questions) where the rules found one, and the ``rules_also_give`` codes, which
   the rules may give beside the model;
   for everything else, when several coders give a code, the codebook's
   ``precedence`` of sources picks whose assignment (and evidence) is kept;
2. ``apply_implications``: codebook ``implies`` (a pro-criminal statement is
   also pro-criminal attitudes talk; role clarification is also information);
3. ``apply_overrides``: codebook ``overrides`` (a summary is not also a simple
   reflection; a referral is not also plain information);
4. ``strip_role_play``: client lines spoken inside a role play keep only topic codes;
5. ``segment_topics``: topics carried over the talk that stays on them (:mod:`.topics`),
   except those a coder decided from their context (its ``contextual_codes``).
"""

from __future__ import annotations

from sessioncoder.coding.base import Coder
from sessioncoder.coding.codebook import Codebook
from sessioncoder.coding.topics import segment_topics
from sessioncoder.schema import CodeAssignment, Utterance


def _rank(codebook: Codebook | None, source: str) -> int:
    order = codebook.settings.precedence if codebook is not None else []
    return order.index(source) if source in order else len(order)


def combine(
    results: list[tuple[Coder, list[list[CodeAssignment]]]], n: int, codebook: Codebook | None = None
) -> list[list[CodeAssignment]]:
    """One assignment per code and utterance: owned codes from their owner, else by declared precedence.

    ``settings.rules_decide`` codes stay with the rules even when a model owns them: where
    the rules give one, the model's codes of that set give way on that utterance.
    """
    owned: dict[str, Coder] = {}
    for coder, _ in results:
        for code in coder.owned_codes:
            owned[code] = coder
    decide = set(codebook.settings.rules_decide) if codebook is not None else set()
    also = set(codebook.settings.rules_also_give) if codebook is not None else set()
    floors = (
        {c.id: c.model_min_confidence for c in codebook.codes.values() if c.model_min_confidence is not None}
        if codebook is not None
        else {}
    )
    merged: list[dict[str, CodeAssignment]] = [{} for _ in range(n)]
    for i in range(n):
        ruled = {a.code for coder, per in results for a in per[i] if a.source == "rule" and a.code in decide}
        for coder, per_utterance in results:
            for assignment in per_utterance[i]:
                if assignment.source == "model" and assignment.confidence < floors.get(assignment.code, 0.0):
                    continue  # below the codebook's trust in the model for this code
                owner = owned.get(assignment.code)
                if assignment.code in decide and (ruled or owner is None):
                    if assignment.source != "rule" and ruled:
                        continue  # the rules found the question here; they say which kind
                elif (
                    owner is not None
                    and owner is not coder
                    and not (assignment.source == "rule" and assignment.code in also)
                ):
                    continue  # the model decides this code (unless the rules may also give it)
                slot = merged[i]
                current = slot.get(assignment.code)
                if current is None or (_rank(codebook, assignment.source), -assignment.confidence) < (
                    _rank(codebook, current.source),
                    -current.confidence,
                ):
                    slot[assignment.code] = assignment
    return [list(slot.values()) for slot in merged]


def apply_overrides(codebook: Codebook, per_utterance: list[list[CodeAssignment]]) -> None:
    """Drop codes that a present code ``overrides`` (never a human's): e.g. a summary is no simple reflection."""
    for assignments in per_utterance:
        displaced = {
            d for a in assignments if a.code in codebook.codes for d in codebook.codes[a.code].overrides
        }
        if displaced:
            assignments[:] = [a for a in assignments if a.code not in displaced or a.source == "human"]


def apply_implications(codebook: Codebook, per_utterance: list[list[CodeAssignment]]) -> None:
    for assignments in per_utterance:
        present = {a.code for a in assignments}
        for assignment in list(assignments):
            for implied in (
                codebook.codes[assignment.code].implies if assignment.code in codebook.codes else ()
            ):
                if implied not in present:
                    present.add(implied)
                    assignments.append(
                        CodeAssignment(
                            code=implied,
                            confidence=assignment.confidence,
                            source=assignment.source,
                            rule=f"implied-by:{assignment.code}",
                            evidence=assignment.evidence,
                            span=assignment.span,
                        )
                    )


# Officer feedback that closes a role play ("That was clear and honest, you led with the plan").
ROLE_PLAY_OVER = frozenset({"behavioural.reinforcement", "relationship.affirmation"})


def strip_role_play(
    codebook: Codebook, utterances: list[Utterance], per_utterance: list[list[CodeAssignment]]
) -> None:
    """Client lines inside a role play are lines of a script, not the client's own change or sustain talk."""
    topic_ids = {c.id for c in codebook.topics()}
    window = codebook.settings.role_play_window
    remaining = 0
    for utterance, assignments in zip(utterances, per_utterance, strict=True):
        codes = {a.code for a in assignments}
        if utterance.role == "officer" and codes & ROLE_PLAY_OVER:
            remaining = 0  # praise for how it went: the scene is over, what follows is the client's own
            continue
        if utterance.role == "officer" and "cognitive.skill_practice" in codes:
            remaining = window
            continue
        if remaining <= 0:
            continue
        remaining -= 1
        if utterance.role == "client":
            assignments[:] = [a for a in assignments if a.code in topic_ids]


def default_coders(
    codebook: Codebook, use_model: bool = True, use_semantic: bool = True, use_code_model: bool = True
) -> tuple[list[Coder], list[str]]:
    """The rule coder, the trained MI model, the code model and the semantic coder, those that load.

    Returns warnings too. The code model and the semantic coder read the MI model's embeddings.
    """
    from sessioncoder.coding.rules import RuleCoder

    coders: list[Coder] = [RuleCoder(codebook)]
    warnings: list[str] = []
    mi_coder = None
    if use_model:
        try:
            from sessioncoder.coding.mi.coder import load_mi_coder

            mi_coder = load_mi_coder()
            coders.append(mi_coder)
        except ImportError:
            pass
        except Exception as exc:  # a broken model must not stop rule coding; say so in the session
            warnings.append(f"trained MI model not used: {exc}")
    if use_code_model and codebook.settings.code_model.enabled and mi_coder is not None:
        try:
            from sessioncoder.coding.code_model import code_model_coder

            coders.append(code_model_coder(codebook, mi_coder))
        except Exception as exc:  # the other coders still code without it; say so in the session
            warnings.append(f"code model not used: {exc}")
    if use_semantic and codebook.settings.semantic.enabled:
        try:
            from sessioncoder.coding.semantic import SemanticCoder, semantic_encoder

            coders.append(SemanticCoder(codebook, semantic_encoder(codebook, mi_coder)))
        except Exception as exc:  # the rules still code without it; say so in the session
            warnings.append(f"semantic coder not used: {exc}")
    return coders, warnings


def run_coders(
    utterances: list[Utterance], coders: list[Coder]
) -> list[tuple[Coder, list[list[CodeAssignment]]]]:
    """Each coder's codes, in the order given.

    Coders that share a sentence encoder share one embedding pass, and that pass runs
    in a worker thread while the coders that need no encoder (the rules, on spaCy) run:
    onnxruntime releases the GIL, so the two overlap on a second core. The codes are
    the same as run one after the other.
    """
    from concurrent.futures import ThreadPoolExecutor

    texts, roles = [u.text for u in utterances], [u.role for u in utterances]

    def encoder_of(coder: Coder):
        encoder = getattr(coder, "encoder", None)
        if (
            utterances
            and encoder is not None
            and (hasattr(coder, "code_embedded") or hasattr(coder, "code_texts"))
        ):
            return encoder
        return None

    encoders = [encoder_of(coder) for coder in coders]
    distinct = {id(e): e for e in encoders if e is not None}
    out: list[list[list[CodeAssignment]] | None] = [None] * len(coders)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = {key: pool.submit(e.encode, texts) for key, e in distinct.items()}
        for k, coder in enumerate(coders):
            if encoders[k] is None:
                out[k] = coder.code(utterances)
        embeddings = {key: future.result() for key, future in pending.items()}
    for k, coder in enumerate(coders):
        encoder = encoders[k]
        if encoder is None:
            continue
        if hasattr(coder, "code_embedded"):
            out[k] = coder.code_embedded(utterances, embeddings[id(encoder)])
        else:
            out[k] = coder.code_texts(texts, roles, embeddings[id(encoder)])
    return [(coder, codes) for coder, codes in zip(coders, out, strict=True) if codes is not None]


def code_utterances(
    utterances: list[Utterance], codebook: Codebook, coders: list[Coder]
) -> list[list[CodeAssignment]]:
    return merge_codes(codebook, utterances, run_coders(utterances, coders))


def merge_codes(
    codebook: Codebook,
    utterances: list[Utterance],
    results: list[tuple[Coder, list[list[CodeAssignment]]]],
) -> list[list[CodeAssignment]]:
    """The coders' codes merged into one list per utterance (the steps in the module docstring)."""
    per_utterance = combine(results, len(utterances), codebook)
    apply_implications(codebook, per_utterance)
    apply_overrides(codebook, per_utterance)
    strip_role_play(codebook, utterances, per_utterance)
    # topics a coder decided from their context (the code model) are not carried again
    contextual = frozenset().union(*(getattr(coder, "contextual_codes", ()) for coder, _ in results))
    segment_topics(codebook, utterances, per_utterance, contextual)
    order = {code_id: i for i, code_id in enumerate(codebook.codes)}
    for assignments in per_utterance:
        assignments.sort(key=lambda a: order.get(a.code, len(order)))
    return per_utterance
