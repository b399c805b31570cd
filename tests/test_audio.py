"""The audio front end end to end on short synthetic fixtures, with Whisper tiny.en.

Fixtures (tests/fixtures/audio) are made by scripts/make_fixtures.sh with
espeak-ng: two voices on one microphone, two lapel microphones (stereo),
8 kHz telephone audio, one voice, and bad input of every kind.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from sessioncoder.errors import AudioError, InputError
from sessioncoder.schema import Transcript
from sessioncoder.speech import asr
from sessioncoder.speech.audio import AUDIO_SUFFIXES
from sessioncoder.speech.diarize import DEFAULT_BACKEND
from sessioncoder.speech.recording import AudioOptions, transcribe_recording

AUDIO = Path(__file__).parent / "fixtures" / "audio"
pytestmark = pytest.mark.audio


def options(**kwargs) -> AudioOptions:
    return AudioOptions(asr_model="tiny.en", progress=False, **kwargs)


def script(name: str) -> list[tuple[str, str]]:
    lines = []
    for raw in (AUDIO / name).read_text().splitlines():
        speaker, text = raw.split(":", 1)
        lines.append((speaker.strip().lower(), text.strip()))
    return lines


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]+", " ", text.lower()).split()


def word_recall(reference: str, hypothesis: str) -> float:
    ref, hyp = words(reference), set(words(hypothesis))
    return sum(w in hyp for w in ref) / len(ref)


def assert_matches_script(t: Transcript, script_name: str) -> None:
    """One utterance per script line, each with the right role, and most of its words."""
    expected = script(script_name)
    assert [u.role for u in t.utterances] == [role for role, _ in expected], [
        (u.speaker, u.role, u.text) for u in t.utterances
    ]
    for u, (_, text) in zip(t.utterances, expected, strict=True):
        assert word_recall(text, u.text) >= 0.6, (text, u.text)
    assert len({u.speaker for u in t.utterances}) == 2


def test_two_voice_dialogue_end_to_end(tmp_path, no_network):
    cache = tmp_path / "dialogue.transcript.json"
    t = transcribe_recording(AUDIO / "dialogue.ogg", options(), cache_path=cache)

    assert t.source.kind == "audio" and t.source.format == "ogg" and len(t.source.sha256) == 64
    assert word_recall((AUDIO / "dialogue.txt").read_text(), " ".join(w.text for w in t.words)) >= 0.8
    assert_matches_script(t, "dialogue.txt")
    officer = next(s for s in t.speakers if s.role == "officer")
    assert officer.role_confidence >= 0.8 and officer.role_evidence
    assert all(s.talk_seconds and s.words for s in t.speakers)
    # Words keep their timings and speakers, in order, inside their utterance.
    for u in t.utterances:
        assert u.words and all(w.speaker == u.speaker for w in u.words)
        assert u.start == u.words[0].start and u.end == u.words[-1].end
    assert [w.start for w in t.words] == sorted(w.start for w in t.words)
    assert len(t.turns) >= 5
    assert {m.task for m in t.models} >= {"asr", "vad", "diarisation"}
    assert t.settings["diarizer"] == DEFAULT_BACKEND  # pyannote: the no-network guard covers it too
    # auto was asked for: the note says why pyannote ran (mono), not that the user chose it.
    assert t.settings["diarisation_notes"][0].startswith(f"diarizer {DEFAULT_BACKEND}: mono")
    for stage in ("decode", "transcription", "diarisation", "total", "audio_seconds", "rtf"):
        assert stage in t.timings
    assert t.timings["audio_seconds"] == pytest.approx(17.2, abs=0.5)
    # Saved atomically as the cache, and round-trips.
    assert Transcript.load(cache) == t
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_stereo_lapel_recording_is_diarised_by_channel():
    t = transcribe_recording(AUDIO / "stereo_lapel.ogg", options())
    assert t.settings["diarizer"] == "channels"
    assert t.settings["channels"] == 2
    assert_matches_script(t, "stereo_lapel.txt")


def test_telephone_8khz():
    t = transcribe_recording(AUDIO / "phone_8k.wav", options())
    assert t.settings["original_sample_rate"] == 8000
    assert_matches_script(t, "phone_8k.txt")


def test_cache_is_hit_on_second_run(tmp_path, monkeypatch):
    cache = tmp_path / "phone.transcript.json"
    first = transcribe_recording(AUDIO / "phone_8k.wav", options(), cache_path=cache)
    assert "cached" not in first.timings

    def fail(*args, **kwargs):
        raise AssertionError("transcription ran again despite the cache")

    monkeypatch.setattr(asr, "transcribe", fail)
    monkeypatch.setattr("sessioncoder.speech.recording.diarize", fail)
    second = transcribe_recording(AUDIO / "phone_8k.wav", options(), cache_path=cache)
    assert second.timings["cached"] == 1.0
    assert [u.text for u in second.utterances] == [u.text for u in first.utterances]

    # --officer on a cached transcript redoes only the roles.
    client_id = next(s.id for s in first.speakers if s.role == "client")
    flipped = transcribe_recording(AUDIO / "phone_8k.wav", options(officer=client_id), cache_path=cache)
    assert flipped.speaker(client_id).role == "officer"
    assert flipped.utterances[0].role == "client"

    # Other settings are another cache key: it must recompute (and so hit the patched stage).
    with pytest.raises(AssertionError, match="despite the cache"):
        transcribe_recording(AUDIO / "phone_8k.wav", options(language=None), cache_path=cache)


def test_copied_recording_with_other_name_still_hits_cache(tmp_path, monkeypatch):
    """The key is the audio's content, not its name or place."""
    src = tmp_path / "a.wav"
    shutil.copy(AUDIO / "phone_8k.wav", src)
    cache = tmp_path / "a.transcript.json"
    transcribe_recording(src, options(), cache_path=cache)
    dst = tmp_path / "b.wav"
    src.rename(dst)
    monkeypatch.setattr(asr, "transcribe", lambda *a, **k: (_ for _ in ()).throw(AssertionError("ran")))
    assert transcribe_recording(dst, options(), cache_path=cache).timings["cached"] == 1.0


def test_one_voice_gives_unknown_roles_with_warning():
    t = transcribe_recording(AUDIO / "one_voice.ogg", options())
    assert len(t.speakers) == 1
    assert t.speakers[0].role == "unknown"
    assert all(u.role == "unknown" for u in t.utterances)
    assert any("only one speaker" in w for w in t.warnings)


def test_one_voice_is_an_error_when_two_speakers_were_asked_for(tmp_path):
    cache = tmp_path / "one.transcript.json"
    with pytest.raises(AudioError, match=r"one_voice\.ogg: only one speaker detected"):
        transcribe_recording(
            AUDIO / "one_voice.ogg", options(speakers=2, speakers_explicit=True), cache_path=cache
        )
    assert not cache.exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("silence.wav", "silent"),
        ("corrupt.ogg", "corrupt or truncated"),
        ("truncated.flac", "corrupt or truncated"),
        ("not_audio.wav", "not an audio file"),
        ("too_short.ogg", "too short"),
        ("does_not_exist.wav", "no such file"),
    ],
)
def test_bad_input_fails_with_one_line_naming_the_file(tmp_path, name, message):
    cache = tmp_path / "x.transcript.json"
    with pytest.raises(AudioError) as info:
        transcribe_recording(AUDIO / name, options(), cache_path=cache)
    text = str(info.value)
    assert name in text and message in text and "\n" not in text
    assert not cache.exists() and not list(tmp_path.iterdir())


def test_noise_without_speech_is_rejected(tmp_path):
    """Sound, but no speech: faster-whisper's VAD finds nothing, so no words."""
    import wave

    import numpy as np

    rng = np.random.default_rng(0)
    hum = 0.05 * np.sin(2 * np.pi * 50 * np.arange(16000 * 3) / 16000) + 0.002 * rng.standard_normal(
        16000 * 3
    )
    path = tmp_path / "hum.wav"
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
        handle.writeframes((hum * 32767).astype(np.int16).tobytes())
    with pytest.raises(AudioError, match=r"hum\.wav: no speech found"):
        transcribe_recording(path, options())


def test_bad_options():
    with pytest.raises(InputError, match="--speakers"):
        transcribe_recording(AUDIO / "dialogue.ogg", options(speakers=0))
    with pytest.raises(InputError, match="diarizer"):
        transcribe_recording(AUDIO / "dialogue.ogg", options(diarizer="magic"))


def test_audio_suffixes():
    assert {".wav", ".mp3", ".m4a", ".flac", ".ogg"} <= AUDIO_SUFFIXES
