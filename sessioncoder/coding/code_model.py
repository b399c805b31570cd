"""The trained code model: the codebook's own codes from the shared embeddings and their context.

Rules are precise and the semantic coder matches paraphrase of a few examples, but
neither learns how trainers actually code a session. This coder is trained on
hand-coded sessions (``scripts/train_code_model.py``) and reads the embedding that the
MI model's encoder already computed for every utterance, so it costs no second encoder
pass. Per code, a logistic regression over :func:`context_features`: the utterance, the
one before and the one after (a reflection answers the client's last words, a short answer
takes the question's topic), the mean of the utterances within :data:`WINDOW` either side
(what the talk is about), the mean within :data:`DISCUSSION` either side (what the discussion
is about, for the lines that do not name its topic), the role, whether it asks (``?``) and its length; and the words
and word pairs of the utterance and of the talk around it (:class:`Lexicon`), because
topics are named in words ("the hostel", "my licence") that the MI-tuned embedding does not
keep apart. (A second stage over the neighbours' probabilities was measured and did worse:
see the training script.)

The model ships in ``models/stics/``: weights, the code ids they score, a threshold per
code and whether the model adds its codes to the other coders' or decides a code alone
(``owns``), all fitted by grouped cross-validation, and the sha256 of the encoder adapters
its features came from: embeddings from any other encoder would be meaningless to it, so a
mismatch is refused with one line. It is trained on ``training/stics/`` and the STICS dev
set's tuning half, never the checking half.

A code fires where its probability reaches the threshold and the code applies to the
speaker's role; bare backchannels are left uncoded (coding convention). Its confidence is
how often trainers agreed with the model's code at that probability, out of fold
(Platt scaling per code), so the report's review mark means what it says. Every assignment
keeps its evidence: the model, the probability and that agreement.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from scipy import sparse

from sessioncoder.coding.codebook import Codebook
from sessioncoder.coding.topics import is_backchannel
from sessioncoder.errors import ModelError
from sessioncoder.fileio import sha256_file
from sessioncoder.schema import CodeAssignment, ModelInfo, Utterance
from sessioncoder.text import words

SOURCE = "trained"
FEATURE_VERSION = 3
# Utterances either side whose mean embedding says what the talk is about.
WINDOW = 3
# Utterances either side whose mean embedding says what the discussion is about: a few minutes
# of talk, so that a topic the discussion is on reaches the lines that do not name it. Chosen by
# out-of-fold average precision of the topic codes (training script).
DISCUSSION = 20

_lock = threading.Lock()
_models: dict[Path, CodeModel] = {}


def default_model_dir() -> Path:
    """The shipped ``models/stics/`` next to the package (editable install or source tree)."""
    return Path(__file__).resolve().parents[2] / "models" / "stics"


def context_features(emb: np.ndarray, roles: list[str], texts: list[str]) -> np.ndarray:
    """One feature row per utterance: itself, its neighbours, the talk around it, the discussion, role and form.

    >>> rows = context_features(np.eye(3, 4, dtype=np.float32), ["officer", "client", "officer"],
    ...                         ["How was it?", "Fine.", "Good."])
    >>> rows.shape
    (3, 24)
    """
    emb = np.asarray(emb, dtype=np.float64)
    n, dim = emb.shape
    zero = np.zeros((1, dim))
    previous = np.vstack([zero, emb[:-1]]) if n else emb
    following = np.vstack([emb[1:], zero]) if n else emb
    # sums over a window either side, the utterance itself included, from one running sum
    running = np.vstack([np.zeros((1, dim)), np.cumsum(emb, axis=0)])
    index = np.arange(n)

    def within(reach: int) -> tuple[np.ndarray, np.ndarray]:
        """The sum of the embeddings within ``reach`` either side of each utterance, and how many."""
        first, end = np.maximum(index - reach, 0), np.minimum(index + reach + 1, n)
        return running[end] - running[first], (end - first).astype(np.float64)

    # the mean of the neighbours within WINDOW, the utterance itself left out
    totals, counts = within(WINDOW)
    around = (totals - emb) / np.maximum(counts - 1, 1)[:, None]
    # the discussion: everything within DISCUSSION either side, at unit length
    discussion, _ = within(DISCUSSION)
    discussion /= np.maximum(np.linalg.norm(discussion, axis=1, keepdims=True), 1e-9)
    form = np.array(
        [
            [
                1.0 if role == "officer" else 0.0,
                1.0 if role == "client" else 0.0,
                1.0 if "?" in text else 0.0,
                np.log1p(len(text.split())) / 4.0,
            ]
            for role, text in zip(roles, texts, strict=True)
        ]
    ).reshape(n, 4)
    return np.hstack([emb, previous, following, around, discussion, form])


def terms(text: str) -> set[str]:
    """The words and adjacent word pairs of an utterance, lower-cased.

    >>> sorted(terms("Back at the hostel?"))
    ['at', 'at the', 'back', 'back at', 'hostel', 'the', 'the hostel']
    """
    tokens = words(text)
    return {*tokens, *(f"{a} {b}" for a, b in itertools.pairwise(tokens))}


class Lexicon:
    """Which terms the code model reads, their idf, and how they become features.

    An utterance's row is its terms' idf (each term once) and the sum of those rows within
    ``window`` utterances either side, each L2-normalised and scaled by ``weight`` (the
    balance against the embedding features under one L2 penalty, chosen by cross-validation).

    >>> lexicon = Lexicon.fit([["my job", "the job centre"], ["my mum"]], min_documents=2)
    >>> lexicon.vocabulary
    ['job', 'my']
    >>> lexicon.features(["my job"]).shape
    (1, 4)
    """

    def __init__(self, vocabulary: list[str], idf: np.ndarray, window: int, weight: float) -> None:
        self.vocabulary = list(vocabulary)
        self.index = {term: i for i, term in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.window = int(window)
        self.weight = float(weight)

    @classmethod
    def fit(
        cls, sessions: Iterable[list[str]], min_documents: int = 3, window: int = 2, weight: float = 2.0
    ) -> Lexicon:
        """Terms in at least ``min_documents`` utterances of ``sessions`` (lists of texts), with their idf."""
        counts: dict[str, int] = {}
        n = 0
        for texts in sessions:
            for text in texts:
                n += 1
                for term in terms(text):
                    counts[term] = counts.get(term, 0) + 1
        vocabulary = sorted(t for t, c in counts.items() if c >= min_documents)
        idf = np.log(n / np.array([counts[t] for t in vocabulary], dtype=np.float64)) if vocabulary else []
        return cls(vocabulary, np.asarray(idf, dtype=np.float64), window, weight)

    @property
    def width(self) -> int:
        return 2 * len(self.vocabulary)

    def features(self, texts: list[str]) -> sparse.csr_matrix:
        """(utterances, 2 x vocabulary): the utterance's terms, then the talk's around it."""
        n, size = len(texts), len(self.vocabulary)
        if n == 0:
            return sparse.csr_matrix((0, 2 * size))
        rows, cols = [], []
        for i, text in enumerate(texts):
            found = sorted(self.index[t] for t in terms(text) if t in self.index)
            rows += [i] * len(found)
            cols += found
        own = sparse.csr_matrix((self.idf[cols], (rows, cols)), shape=(n, size))
        reach = range(-self.window, self.window + 1)
        band = sparse.diags(
            [np.ones(n - abs(k)) for k in reach if abs(k) < n], [k for k in reach if abs(k) < n]
        )
        around = (band @ own).tocsr()
        return sparse.hstack([_unit_rows(own), _unit_rows(around)], format="csr") * self.weight


def _unit_rows(matrix: sparse.spmatrix) -> sparse.csr_matrix:
    matrix = sparse.csr_matrix(matrix)
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1), dtype=np.float64)).ravel()
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms) @ matrix


def model_features(
    emb: np.ndarray, roles: list[str], texts: list[str], lexicon: Lexicon
) -> sparse.csr_matrix:
    """The code model's whole input: :func:`context_features` beside the lexicon's features."""
    return sparse.hstack(
        [sparse.csr_matrix(context_features(emb, roles, texts)), lexicon.features(texts)], format="csr"
    )


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))


class CodeModel:
    """The trained weights and thresholds of ``models/stics/`` (loaded once per process)."""

    def __init__(self, model_dir: Path) -> None:
        config_path = model_dir / "config.json"
        if not config_path.is_file():
            raise ModelError(f"code model not found in {model_dir} (need config.json and weights.npz)")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"code model config {config_path} is unreadable: {exc}") from exc
        if int(config.get("feature_version", -1)) != FEATURE_VERSION:
            raise ModelError(
                f"code model {config_path} has feature version {config.get('feature_version')}, "
                f"this sessioncoder needs {FEATURE_VERSION}"
            )
        weights_path = model_dir / "weights.npz"
        if not weights_path.is_file() or sha256_file(weights_path) != config.get("weights_sha256"):
            raise ModelError(f"code model weights {weights_path} are missing or do not match config.json")
        with np.load(weights_path, allow_pickle=False) as arrays:
            self.weights = arrays["weights"].astype(np.float64)
            self.bias = arrays["bias"].astype(np.float64)
            lexical = config.get("lexicon", {})
            self.lexicon = Lexicon(
                [str(t) for t in arrays["vocabulary"]],
                arrays["idf"],
                window=lexical.get("window", 2),
                weight=lexical.get("weight", 1.0),
            )
        self.model_dir = model_dir
        self.config = config
        self.codes: list[str] = list(config["codes"])
        self.thresholds = np.array([config["thresholds"][c] for c in self.codes], dtype=np.float64)
        # probability -> how often a trainer agreed, out of fold: [slope, intercept] on the log-odds
        # (identity where not calibrated)
        calibration = config.get("calibration", {})
        self.calibration = np.array([calibration.get(c) or [1.0, 0.0] for c in self.codes], dtype=np.float64)
        gates = config.get("session_gates", {})
        self.session_gates = np.array([gates.get(c) or 0.0 for c in self.codes], dtype=np.float64)
        if self.weights.shape[1] != len(self.codes) or self.bias.shape != (len(self.codes),):
            raise ModelError(f"code model {model_dir}: weights do not match its {len(self.codes)} codes")

    def agreement(self, probability: float, j: int) -> float:
        """How often trainers agreed with code ``j`` given at this probability (Platt, out of fold)."""
        slope, intercept = self.calibration[j]
        p = min(max(probability, 1e-6), 1 - 1e-6)
        return float(sigmoid(np.array(slope * np.log(p / (1 - p)) + intercept)))

    def telling_terms(self, features: sparse.spmatrix, i: int, j: int, most: int = 3) -> list[str]:
        """The utterance's own terms that raised code ``j``'s score most on row ``i`` (positive only)."""
        vocabulary = self.lexicon.vocabulary
        start = self.weights.shape[0] - self.lexicon.width  # the own-terms block follows the dense part
        row = sparse.csr_matrix(features[i, start : start + len(vocabulary)])
        if row.nnz == 0:
            return []
        push = row.data * self.weights[start + row.indices, j]
        order = np.argsort(-push, kind="stable")[:most]
        return [vocabulary[row.indices[k]] for k in order if push[k] > 0]

    def probabilities(self, features: np.ndarray | sparse.spmatrix) -> np.ndarray:
        """(utterances, codes) probabilities."""
        if features.shape[1] != self.weights.shape[0]:
            raise ModelError(
                f"code model expects {self.weights.shape[0]} features per utterance, got {features.shape[1]} "
                "(was it trained on another encoder?)"
            )
        return sigmoid(np.asarray(features @ self.weights) + self.bias)


def model_dir_of(name: str) -> Path:
    """A codebook's ``code_model.model``: a folder under the shipped ``models/``, or a path."""
    path = Path(name).expanduser()
    return path if path.is_absolute() or len(path.parts) > 1 else default_model_dir().parent / name


def load_code_model(path: Path | None = None) -> CodeModel:
    """The code model in ``path`` (default: the shipped ``models/stics/``), once per process."""
    model_dir = (Path(path) if path is not None else default_model_dir()).resolve()
    with _lock:
        if model_dir not in _models:
            _models[model_dir] = CodeModel(model_dir)
        return _models[model_dir]


class CodeModelCoder:
    """Codes the codebook's codes with the trained code model, over the MI encoder's embeddings.

    ``owned_codes``: the codes that cross-validation gave to the model alone (the rules'
    guesses for them are dropped by :func:`sessioncoder.coding.combine.combine`).
    ``contextual_codes``: the codes it decides from context, which the topic segments do not
    carry again (:func:`sessioncoder.coding.topics.segment_topics`).
    """

    name = "code-model"

    def __init__(self, codebook: Codebook, model: CodeModel, encoder, encoder_sha256: str | None) -> None:
        expected = model.config.get("encoder_adapters_sha256")
        if expected and encoder_sha256 and expected != encoder_sha256:
            raise ModelError(
                "code model was trained on another version of the MI encoder; retrain it "
                "(scripts/train_code_model.py)"
            )
        unknown = [c for c in model.codes if c not in codebook.codes]
        if unknown:
            raise ModelError(
                f"code model scores codes that codebook {codebook.id} lacks: {', '.join(unknown)}"
            )
        self.codebook = codebook
        self.model = model
        self.encoder = encoder
        self.owned_codes = frozenset(model.config.get("owns", ()))
        # it reads each line's neighbours and the words around it: its topics are not carried again
        self.contextual_codes = frozenset(model.codes)

    def code(self, utterances: list[Utterance]) -> list[list[CodeAssignment]]:
        if not utterances:
            return []
        return self.code_embedded(utterances, self.encoder.encode([u.text for u in utterances]))

    def code_embedded(self, utterances: list[Utterance], emb: np.ndarray) -> list[list[CodeAssignment]]:
        """Codes given the utterances' embeddings (shared with the MI model)."""
        if not utterances:
            return []
        texts = [u.text for u in utterances]
        features = model_features(emb, [u.role for u in utterances], texts, self.model.lexicon)
        return self.assign(utterances, self.model.probabilities(features), features=features)

    def assign(
        self,
        utterances: list[Utterance],
        probabilities: np.ndarray,
        thresholds: np.ndarray | None = None,
        features: sparse.spmatrix | None = None,
    ) -> list[list[CodeAssignment]]:
        """Codes from probabilities (``thresholds`` per code: the model's unless given, for tuning).

        With the ``features`` the probabilities came from, the evidence also names the words of
        the utterance that spoke most for the code, so a trainer sees why it was given.
        """
        limits = self.model.thresholds if thresholds is None else thresholds
        applies = [self.codebook.codes[c].applies_to for c in self.model.codes]
        roles = np.array([u.role for u in utterances])
        allowed = np.column_stack([roles == a if a != "any" else np.ones(len(roles), bool) for a in applies])
        probabilities = np.where(
            allowed, probabilities, 0.0
        )  # an officer code on a client line is worse than none
        # a code that marks the session (a summary, pro-criminal talk) only where the model is sure somewhere
        gated = probabilities.max(axis=0) < self.model.session_gates
        skip = [is_backchannel(self.codebook, u.text) for u in utterances]  # coded by convention as nothing
        result: list[list[CodeAssignment]] = [[] for _ in utterances]
        for i, j in zip(*np.nonzero(probabilities >= limits[None, :]), strict=True):
            if gated[j] or skip[i]:
                continue
            code = self.model.codes[j]
            p = float(probabilities[i, j])
            agreement = self.model.agreement(p, j)
            telling = self.model.telling_terms(features, i, j) if features is not None else []
            said = f"; words: {', '.join(repr(w) for w in telling)}" if telling else ""
            result[i].append(
                CodeAssignment(
                    code=code,
                    confidence=round(agreement, 4),
                    source=SOURCE,
                    rule=f"code-model:{code}",
                    evidence=(
                        f"trained code model, probability {p:.2f} "
                        f"(trainers agreed {agreement:.0%} at that level){said}"
                    ),
                )
            )
        return result

    def model_info(self) -> list[ModelInfo]:
        return [
            ModelInfo(
                task="code-model",
                name=str(self.model.config.get("name", "sessioncoder-codes")),
                version=str(self.model.config.get("version", "")) or None,
                path=str(self.model.model_dir),
                sha256=self.model.config.get("weights_sha256"),
                licence="trained on sessioncoder's hand-coded fictional sessions",
            )
        ]


def code_model_coder(codebook: Codebook, mi_coder) -> CodeModelCoder:
    """The codebook's code model over the MI coder's encoder (ModelError if it does not fit)."""
    model = load_code_model(model_dir_of(codebook.settings.code_model.model))
    return CodeModelCoder(codebook, model, mi_coder.encoder, mi_coder.config.get("adapters_sha256"))
