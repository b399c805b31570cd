"""Domain vocabulary (codebook YAML -> Whisper's prompt), beam search, and speaker count under ``auto``."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from sessioncoder.coding.codebook import load_codebook
from sessioncoder.models.store import resolve_asr_model
from sessioncoder.speech import asr
from sessioncoder.speech.recording import AudioOptions, cache_key, prompted_vocabulary, transcribe_recording

AUDIO = Path(__file__).parent / "fixtures" / "audio"
SHARED_AUDIO = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "audio"


def test_codebook_vocabulary_is_data_and_an_extending_codebook_adds_to_it(tmp_path):
    base = load_codebook()
    assert {"unpaid work", "licence conditions", "OASys", "curfew"} <= set(base.vocabulary)
    mine = tmp_path / "ourteam.yaml"
    mine.write_text('id: ourteam\nversion: "1"\nname: Ours\nextends: stics\nvocabulary: [RAR days, curfew]\n')
    team = load_codebook(mine)
    assert team.vocabulary[: len(base.vocabulary)] == base.vocabulary
    assert team.vocabulary.count("curfew") == 1 and "RAR days" in team.vocabulary


def test_vocabulary_prompt_and_cache_key():
    prompt = asr.vocabulary_prompt(["unpaid work", " ", "OASys"])
    assert prompt == "A probation supervision session. Terms: unpaid work, OASys."
    assert asr.vocabulary_prompt([]) is None
    assert len(asr.vocabulary_prompt([f"term {i}" for i in range(100)]).split(",")) == asr.MAX_PROMPT_TERMS
    _, info = resolve_asr_model("tiny.en")
    plain, with_terms = AudioOptions(), AudioOptions(vocabulary=["curfew"])
    assert cache_key("a" * 64, plain, info) != cache_key("a" * 64, with_terms, info)
    # tiny.en is not prompted (bench_asr: the prompt made it worse), base is.
    assert prompted_vocabulary(AudioOptions(asr_model="tiny.en", vocabulary=["curfew"])) == []
    assert prompted_vocabulary(with_terms) == ["curfew"]
    # Greedy decoding lost words (bench_asr): Whisper's default beam stays.
    assert asr.BEAM_SIZE == 5


@pytest.mark.audio
def test_transcription_with_the_codebook_vocabulary_keeps_the_words():
    from sessioncoder.speech.audio import load_audio

    model_dir, _ = resolve_asr_model("tiny.en")
    mono = load_audio(AUDIO / "dialogue.ogg").mono
    result = asr.transcribe(mono, model_dir, "en", vocabulary=load_codebook().vocabulary)
    text = " ".join(w.text.lower() for w in result.words)
    # The prompt is context, not text: none of its terms leak into the words.
    assert "oasys" not in text and "terms" not in text
    for word in ("homework", "appointment", "friday", "work"):
        assert word in text


@pytest.mark.audio
def test_the_recording_pipeline_records_the_prompt_it_used():
    options = AudioOptions(asr_model="tiny.en", progress=False, vocabulary=["curfew"])
    t = transcribe_recording(AUDIO / "phone_8k.wav", options)
    assert t.settings["initial_prompt"] is None  # tiny.en: unprompted


@pytest.mark.audio
def test_speakers_auto_keeps_one_voice_one_speaker():
    t = transcribe_recording(
        AUDIO / "one_voice.ogg", AudioOptions(asr_model="tiny.en", progress=False, speakers="auto")
    )
    assert len(t.speakers) == 1 and t.speakers[0].role == "unknown"


@pytest.mark.audio
@pytest.mark.skipif(not (SHARED_AUDIO / "jfk.flac").exists(), reason="../shared/data/audio/jfk.flac absent")
def test_speakers_auto_does_not_split_jfk():
    t = transcribe_recording(
        SHARED_AUDIO / "jfk.flac", AudioOptions(asr_model="tiny.en", progress=False, speakers="auto")
    )
    assert len(t.speakers) == 1


@pytest.mark.audio
def test_sequential_decoding_gives_plain_whispers_words_and_nothing_for_silence():
    """tiny.en decodes sequentially (the batched VAD chunks lost its words): same words as plain faster-whisper."""
    import numpy as np

    from sessioncoder.speech.audio import SAMPLE_RATE, load_audio
    from sessioncoder.speech.recording import sequential_decoding

    assert sequential_decoding("tiny.en") and not sequential_decoding("base")
    model_dir, _ = resolve_asr_model("tiny.en")
    mono = load_audio(AUDIO / "dialogue.ogg").mono
    result = asr.transcribe(mono, model_dir, "en", sequential=True)
    segments, _ = asr.load_whisper(model_dir).transcribe(mono, language="en", word_timestamps=True)
    plain = [w.word.strip() for s in segments for w in s.words or [] if w.word.strip()]
    assert [w.text for w in result.words] == plain and len(plain) > 20
    assert all(a.start <= b.start for a, b in itertools.pairwise(result.words))
    assert 0 < result.speech_seconds <= len(mono) / SAMPLE_RATE

    quiet = np.random.default_rng(0).normal(0, 1e-4, 5 * SAMPLE_RATE).astype(np.float32)
    silent = asr.transcribe(quiet, model_dir, "en", sequential=True)
    assert silent.words == [] and silent.speech_seconds == 0.0
