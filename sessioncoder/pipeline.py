"""The stages end to end: input file -> Transcript -> CodedSession (with its Profile).

Each function takes a saved artefact and returns the next, so any stage can
be re-run alone: re-coding with a revised codebook starts from a transcript
(or a cached ``.transcript.json``) and never re-transcribes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sessioncoder.coding.base import Coder
from sessioncoder.coding.codebook import Codebook, load_codebook
from sessioncoder.coding.combine import code_utterances, default_coders
from sessioncoder.errors import InputError
from sessioncoder.profile import compute_profile
from sessioncoder.schema import CodedSession, Transcript
from sessioncoder.speech.audio import AUDIO_SUFFIXES
from sessioncoder.transcripts import TRANSCRIPT_SUFFIXES, read_transcript

if TYPE_CHECKING:
    from sessioncoder.speech.recording import AudioOptions


def input_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    if suffix in TRANSCRIPT_SUFFIXES:
        return "transcript"
    raise InputError(
        f"{path}: unsupported input type {suffix or '(none)'} "
        f"(audio: {', '.join(sorted(AUDIO_SUFFIXES))}; transcripts: {', '.join(sorted(TRANSCRIPT_SUFFIXES))})"
    )


def read_input(
    path: str | Path,
    audio_options: AudioOptions | None = None,
    cache_path: Path | None = None,
    officer: str | None = None,
) -> Transcript:
    """A transcript from any supported input: a transcript file, or a recording (transcribed and diarised)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if input_kind(path) == "audio":
        from sessioncoder.speech.recording import AudioOptions, transcribe_recording

        options = audio_options or AudioOptions()
        if officer is not None:
            options.officer = officer
        return transcribe_recording(path, options, cache_path=cache_path)
    transcript = read_transcript(path)
    if officer is not None:
        from sessioncoder.roles import assign_roles

        transcript = assign_roles(transcript, officer=officer)
    return transcript


def code_transcript(
    transcript: Transcript,
    codebook: Codebook | None = None,
    coders: list[Coder] | None = None,
    use_model: bool = True,
    use_semantic: bool = True,
    use_code_model: bool = True,
) -> CodedSession:
    """Code every utterance and compute the profile (``use_semantic``/``use_code_model=False``: without those coders).

    >>> from sessioncoder.schema import SourceInfo, Utterance
    >>> t = Transcript(source=SourceInfo(path="x.txt", sha256="0", kind="transcript", format="txt"),
    ...     utterances=[Utterance(index=0, speaker="PO", role="officer", text="How have things been since last week?"),
    ...                 Utterance(index=1, speaker="SU", role="client", text="I've cut down on the drinking.")])
    >>> s = code_transcript(t, use_model=False, use_semantic=False)
    >>> s.utterances[0].code_ids
    ['structuring.check_in', 'mi.open_question']
    """
    codebook = codebook or load_codebook()
    warnings: list[str] = []
    if coders is None:
        coders, warnings = default_coders(
            codebook, use_model=use_model, use_semantic=use_semantic, use_code_model=use_code_model
        )
    utterances = [u.model_copy(deep=True) for u in transcript.utterances]
    for u in utterances:
        u.codes = []
    for u, assignments in zip(utterances, code_utterances(utterances, codebook, coders), strict=True):
        u.codes = assignments
    if any(u.role == "unknown" for u in utterances):
        warnings.append("some speakers have no role: their codes are given at reduced confidence for review")
    session = CodedSession(
        source=transcript.source,
        transcript_key=transcript.cache_key,
        duration=transcript.duration,
        speakers=transcript.speakers,
        codebooks=[codebook.ref()],
        models=[*transcript.models, *(m for c in coders for m in c.model_info())],
        utterances=utterances,
        warnings=[*transcript.warnings, *warnings],
        settings={"coders": [c.name for c in coders], **transcript.settings},
    )
    session.profile = compute_profile(session, codebook)
    return session


def code_recording(
    path: str | Path,
    codebook: Codebook | None = None,
    audio_options: AudioOptions | None = None,
    cache_path: Path | None = None,
) -> CodedSession:
    codebook = codebook or load_codebook()
    if audio_options is None:
        from sessioncoder.speech.recording import AudioOptions

        audio_options = AudioOptions()
    audio_options.vocabulary = audio_options.vocabulary or codebook.vocabulary
    return code_transcript(read_input(path, audio_options, cache_path), codebook)
