"""The trained MI coder: practitioner micro-skills and client talk type from context.

Trained on AnnoMI by ``scripts/train_mi_model.py`` (grouped 5-fold cross-validation)
and written by ``scripts/ship_mi_model.py`` (see ``models/mi/MODEL_CARD.md``).
Every utterance is embedded once, alone, by all-MiniLM-L6-v2 fine-tuned on
AnnoMI with LoRA adapters (the adapters ship in ``models/mi/``, the base weights
come from their package; see :mod:`sessioncoder.models.lora`). Each utterance's
feature row joins that embedding with those of the previous two utterances,
the next one and the other speaker's last turn, its product with the latter
(reflections echo it), roles, and surface cues (question marks, wh-words,
reflection stems, permission phrases; :func:`~sessioncoder.coding.mi.features.hand_features`).

From the rows, a 3.x model's context network (:mod:`sessioncoder.coding.mi.context`)
computes a practitioner output (8 classes) for officer utterances and a client
output (change/neutral/sustain) for client utterances, attending over about ten
utterances either side; a 2.x model's numpy MLP heads
(:class:`~sessioncoder.coding.mi.heads.Head`) score each row alone. Either way a
temperature per output, fitted on held-out transcripts, calibrates the
probabilities, and encoder and outputs were trained together.

Role ``unknown`` utterances get no MI code: a practitioner code on a client's
words (or the reverse) is worse than a missing one, and the role assignment
upstream labels almost every utterance.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from sessioncoder.coding.mi.context import ContextNet, softmax
from sessioncoder.coding.mi.features import (
    FEATURE_VERSION,
    MODEL_NAME,
    OWNED_CODES,
    PERMISSION_RE,
    class_code,
    hand_features,
    permission_asked,
    session_features,
)
from sessioncoder.coding.mi.heads import Head, Output, decide_rows
from sessioncoder.errors import ModelError
from sessioncoder.fileio import sha256_file
from sessioncoder.schema import CodeAssignment, ModelInfo, Utterance


def default_model_dir() -> Path:
    """The shipped ``models/mi/`` next to the package (editable install or source tree)."""
    return Path(__file__).resolve().parents[3] / "models" / "mi"


class MIModelCoder:
    """Codes MI practitioner micro-skills and client change/sustain talk with the trained heads."""

    name = MODEL_NAME
    owned_codes: frozenset[str] = OWNED_CODES

    def __init__(
        self,
        model_dir: Path,
        config: dict[str, Any],
        therapist: Head | Output,
        client: Head | Output,
        network: ContextNet | None = None,
    ) -> None:
        """``therapist``/``client``: each output's classes and temperature (2.x: the whole MLP head).

        ``network``: the 3.x context network, which computes both outputs over the whole session;
        without it the 2.x heads score each utterance's feature row on its own.
        """
        self.model_dir = model_dir
        self.config = config
        self.therapist = therapist
        self.client = client
        self.network = network
        self.version = str(config.get("version", "0"))
        self.n_prev = int(config["features"]["n_prev"])
        self.n_next = int(config["features"]["n_next"])
        self.max_length = int(config["features"]["max_length"])
        self._encoder = None
        self._encoder_onnx: Path | None = None
        self._reference: Any = None  # the fp32 torch network, loaded by reference_embeddings only

    def encoder_onnx(self) -> Path | None:
        """The fine-tuned encoder (adapters merged, built once and cached), or None for the frozen one."""
        adapters = self.config["features"].get("adapters")
        if not adapters:
            return None
        if self._encoder_onnx is None:  # looking it up hashes the 90 MB base weights: once per coder
            from sessioncoder.models.lora import SHIPPED_BUILD, adapted_encoder_onnx

            # The build the temperatures were fitted through (config.json), else today's shipped one.
            build = self.config["features"].get("encoder_build", SHIPPED_BUILD)
            self._encoder_onnx = adapted_encoder_onnx(
                self.model_dir / adapters, adapters_sha256=self.config.get("adapters_sha256"), build=build
            )
        return self._encoder_onnx

    def make_encoder(self, threads: int | None = None):
        """A sentence encoder for this model with ``threads`` workers (default: the process-wide one)."""
        from sessioncoder.models.encoder import SentenceEncoder, get_encoder

        if threads is None:
            return get_encoder(max_length=self.max_length, onnx_path=self.encoder_onnx())
        return SentenceEncoder(max_length=self.max_length, threads=threads, onnx_path=self.encoder_onnx())

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = self.make_encoder()
        return self._encoder

    # -- features shared with training
    def features(
        self,
        texts: list[str],
        roles: list[str],
        emb: np.ndarray | None = None,
        hand: np.ndarray | None = None,
    ) -> np.ndarray:
        if emb is None:
            emb = self.encoder.encode(texts)
        return session_features(emb, texts, roles, self.n_prev, self.n_next, hand)

    def session_logits(
        self,
        texts: list[str],
        roles: list[str],
        emb: np.ndarray | None = None,
        hand: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Both outputs' temperature-scaled logits for every utterance of one session (rows in order)."""
        x = self.features(texts, roles, emb, hand)
        if self.network is not None:
            t, c = self.network.logits(x)
        else:
            assert isinstance(self.therapist, Head) and isinstance(self.client, Head)
            t, c = self.therapist.logits(x), self.client.logits(x)
        return t / self.therapist.temperature, c / self.client.temperature

    def predict(
        self,
        texts: list[str],
        roles: list[str],
        emb: np.ndarray | None = None,
        hand: np.ndarray | None = None,
    ) -> list[tuple[str, float]]:
        """(class, probability) per utterance: a practitioner class for officer, client class for client.

        Unknown-role utterances get ``("", 0.0)``. ``emb`` and ``hand``: precomputed
        embeddings and :func:`hand_features`, if the caller has them.
        """
        if not texts:
            return []
        t, c = self.session_logits(texts, roles, emb, hand)
        return decide_rows(roles, softmax(t), softmax(c), self.therapist.classes, self.client.classes)

    def head_logits(self, texts: list[str], roles: list[str], emb: np.ndarray) -> list[np.ndarray | None]:
        """Per utterance, the temperature-scaled logits of the output that decides it (None: unknown role).

        What the portability checks compare between the shipped encoder and the fp32 reference.
        """
        if not texts:
            return []
        t, c = self.session_logits(texts, roles, emb)
        return [t[i] if r == "officer" else c[i] if r == "client" else None for i, r in enumerate(roles)]

    def reference_embeddings(self, texts: list[str]) -> np.ndarray:
        """fp32 torch embeddings (adapters merged, no quantisation, no onnxruntime): the labels' reference.

        The shipped encoder must give the labels these give, on every CPU (tests, ``make bench``).
        """
        from sessioncoder.models import lora

        if self._reference is None:
            adapters = self.config["features"].get("adapters")
            self._reference = (
                lora.merged_model(self.model_dir / adapters) if adapters else lora.load_base_model()
            )
        return lora.torch_embeddings(self._reference, self.encoder.token_ids(texts))

    def code(self, utterances: list[Utterance]) -> list[list[CodeAssignment]]:
        return self.code_texts([u.text for u in utterances], [u.role for u in utterances])

    def code_texts(
        self, texts: list[str], roles: list[str], emb: np.ndarray | None = None
    ) -> list[list[CodeAssignment]]:
        """Codes for one session's utterances given as texts and roles (``emb``: precomputed embeddings)."""
        result: list[list[CodeAssignment]] = [[] for _ in texts]
        hand = hand_features(texts, roles)
        asked = permission_asked(hand)
        for i, (label, confidence) in enumerate(self.predict(texts, roles, emb, hand)):
            code = class_code(roles[i], label, bool(asked[i])) if label else None
            if code is None:
                continue
            evidence = None
            if code == "mi.advice_with_permission" and label == "input.advice":
                match = PERMISSION_RE.search(texts[i])
                evidence = match.group(0) if match else "permission asked in a previous turn"
            result[i].append(
                CodeAssignment(
                    code=code,
                    confidence=round(min(max(confidence, 0.0), 1.0), 4),
                    source="model",
                    rule=self.name,
                    evidence=evidence,
                )
            )
        return result

    def model_info(self) -> list[ModelInfo]:
        weights = self.model_dir / weights_name(self.config)
        return [
            ModelInfo(
                task="mi-classifier",
                name=f"{self.name}-{self.version}",
                version=self.version,
                path=str(weights),
                sha256=self.config.get("weights_sha256"),
                licence=self.config.get("licence"),
            ),
            ModelInfo(
                task="sentence-encoder",
                name=self.config["features"]["encoder"],
                version=self.config["features"].get("base_encoder"),
                path=str(self.encoder.onnx_path) if self._encoder is not None else None,
                sha256=self.config.get("adapters_sha256"),
                licence="Apache-2.0 (base weights); adapters trained on AnnoMI, see MODEL_CARD.md",
                quantisation=self.encoder.quantisation if self._encoder is not None else None,
            ),
        ]


def weights_name(config: dict[str, Any]) -> str:
    """The file holding the model's output weights: ``heads.npz`` (2.x MLP heads) or the context network's."""
    return str(config.get("head", {}).get("weights", "heads.npz"))


_coder_lock = threading.Lock()
_coders: dict[Path, MIModelCoder] = {}


def load_mi_coder(path: Path | None = None) -> MIModelCoder:
    """Load the MI coder from ``path`` (default: the shipped ``models/mi/``), once per process.

    Raises ModelError with one line when the model files are missing or do not match.
    """
    model_dir = Path(path) if path is not None else default_model_dir()
    model_dir = model_dir.resolve()
    with _coder_lock:
        if model_dir in _coders:
            return _coders[model_dir]
        config_path = model_dir / "config.json"
        if not config_path.is_file():
            raise ModelError(f"MI model not found in {model_dir} (need config.json and its weights)")
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
            weights_path = model_dir / weights_name(config)
            if not weights_path.is_file():
                raise ModelError(f"MI model weights not found: {weights_path}")
            if int(config.get("feature_version", -1)) != FEATURE_VERSION:
                raise ModelError(
                    f"MI model {config_path} has feature version {config.get('feature_version')}, "
                    f"this sessioncoder needs {FEATURE_VERSION}"
                )
            for key, name in (
                ("weights_sha256", weights_path.name),
                ("adapters_sha256", config["features"].get("adapters")),
            ):
                if name and config.get(key) and sha256_file(model_dir / name) != config[key]:
                    raise ModelError(
                        f"MI model file {model_dir / name} does not match the sha256 in config.json"
                    )
            network = None
            if config.get("head", {}).get("kind") == "context":
                with np.load(weights_path, allow_pickle=False) as arrays:
                    network = ContextNet.from_arrays(arrays, config["head"])
                therapist: Head | Output = Output(
                    tuple(config["therapist"]["classes"]), float(config["therapist"]["temperature"])
                )
                client: Head | Output = Output(
                    tuple(config["client"]["classes"]), float(config["client"]["temperature"])
                )
            else:
                with np.load(weights_path, allow_pickle=False) as arrays:
                    therapist = Head.from_arrays(
                        arrays,
                        "therapist",
                        tuple(config["therapist"]["classes"]),
                        config["therapist"]["temperature"],
                    )
                    client = Head.from_arrays(
                        arrays, "client", tuple(config["client"]["classes"]), config["client"]["temperature"]
                    )
        except ModelError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot load MI model from {model_dir}: {exc}") from exc
        coder = MIModelCoder(model_dir, config, therapist, client, network)
        _coders[model_dir] = coder
        return coder
