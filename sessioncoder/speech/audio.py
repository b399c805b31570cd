"""Decoding recordings to 16 kHz float32, and telling a two-lapel stereo recording apart.

Any container and codec that FFmpeg reads (through PyAV, the decoder
faster-whisper uses) is accepted, at any sample rate. Stereo is kept as two
channels only when each channel carries a different speaker (two lapel
microphones); otherwise everything is downmixed to mono, which is what Whisper
and the embedded diariser want.

Bad input fails here with an AudioError naming the file: not audio, corrupt or
truncated, too short, or silent.
"""

from __future__ import annotations

import gc
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sessioncoder.errors import AudioError
from sessioncoder.fileio import sha256_file

# Recordings sessioncoder accepts (anything PyAV decodes would do; these are what users hand in).
AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".m4a", ".flac", ".ogg", ".opus", ".webm"})

SAMPLE_RATE = 16_000
MIN_SECONDS = 2.0
# A decoded length this far below what the container declares means the file was cut short.
TRUNCATION_TOLERANCE = 0.9
# Peak level below which a recording is taken as silence (about -60 dBFS).
SILENCE_PEAK = 1e-3


@dataclass
class Audio:
    """A decoded recording: ``channels`` is (n_channels, n_samples) float32 at 16 kHz."""

    path: Path
    sha256: str
    channels: np.ndarray
    original_sample_rate: int
    original_channels: int
    codec: str
    format: str
    notes: list[str] = field(default_factory=list)

    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        return self.channels.shape[1] / self.sample_rate

    @property
    def n_channels(self) -> int:
        return self.channels.shape[0]

    @property
    def mono(self) -> np.ndarray:
        """The downmix that Whisper transcribes."""
        if self.n_channels == 1:
            return self.channels[0]
        return self.channels.mean(axis=0).astype(np.float32)


def _declared_seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # av.time_base is microseconds
    return None


def decode(path: Path) -> tuple[np.ndarray, dict]:
    """Decode to (channels, samples) float32 at 16 kHz; stereo kept as 2 channels, more downmixed.

    Unlike faster-whisper's ``decode_audio``, invalid frames are counted, not
    skipped silently, so a corrupt file is reported rather than half-used.
    """
    import av

    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise AudioError(f"{path}: not an audio file or unreadable ({_reason(exc)})") from exc
    with container:
        if not container.streams.audio:
            raise AudioError(f"{path}: no audio stream in this file")
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        n_in = int(ctx.channels or 1)
        info = {
            "sample_rate": int(ctx.sample_rate or 0),
            "channels": n_in,
            "codec": ctx.name,
            "format": container.format.name,
            "declared_seconds": _declared_seconds(container, stream),
        }
        layout = "stereo" if n_in == 2 else "mono"
        resampler = av.audio.resampler.AudioResampler(format="s16", layout=layout, rate=SAMPLE_RATE)
        buffer = io.BytesIO()
        invalid = 0
        nonfinite = 0
        frames_ok = 0
        decoded = container.decode(stream)
        while True:
            try:
                frame = next(decoded)
            except StopIteration:
                break
            except av.error.InvalidDataError:
                invalid += 1
                if invalid > 20:
                    break
                continue
            except av.error.FFmpegError as exc:
                raise AudioError(f"{path}: corrupt or truncated audio ({_reason(exc)})") from exc
            frame.pts = None
            if frame.format.name.startswith(("flt", "dbl")) and not np.isfinite(frame.to_ndarray()).all():
                nonfinite += 1  # NaN or infinite float samples: a broken writer, not sound
            frames_ok += 1
            for out in resampler.resample(frame):
                buffer.write(out.to_ndarray().tobytes())
        for out in resampler.resample(None):
            buffer.write(out.to_ndarray().tobytes())
        del resampler
        gc.collect()

    samples = np.frombuffer(buffer.getbuffer(), dtype=np.int16).astype(np.float32) / 32768.0
    n_out = 2 if layout == "stereo" else 1
    samples = samples[: len(samples) - len(samples) % n_out].reshape(-1, n_out).T.copy()
    info["invalid_frames"] = invalid
    info["nonfinite_frames"] = nonfinite
    info["frames"] = frames_ok
    return samples, info


def _reason(exc: BaseException) -> str:
    """FFmpeg's reason without the errno and the repeated path."""
    reason = getattr(exc, "strerror", None) or str(exc)
    return str(reason).strip()


def load_audio(path: str | Path) -> Audio:
    """Decode, check and hash a recording. Raises AudioError with a one-line reason."""
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if not path.is_file():
        raise AudioError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file")
    samples, info = decode(path)
    seconds = samples.shape[1] / SAMPLE_RATE
    if info["frames"] == 0 or samples.shape[1] == 0:
        raise AudioError(f"{path}: not an audio file or corrupt (no audio could be decoded)")
    if info.get("nonfinite_frames"):
        raise AudioError(
            f"{path}: invalid samples (NaN or infinite values in {info['nonfinite_frames']} frames)"
        )
    if info["invalid_frames"] > 0:
        raise AudioError(f"{path}: corrupt or truncated audio ({info['invalid_frames']} undecodable frames)")
    declared = info["declared_seconds"]
    if declared and declared > MIN_SECONDS and seconds < TRUNCATION_TOLERANCE * declared:
        raise AudioError(
            f"{path}: corrupt or truncated audio (only {seconds:.1f} s decodable, header says {declared:.1f} s)"
        )
    if seconds < MIN_SECONDS:
        raise AudioError(
            f"{path}: too short ({seconds:.1f} s; at least {MIN_SECONDS:.0f} s of speech is needed)"
        )
    if float(np.abs(samples).max()) < SILENCE_PEAK:
        raise AudioError(f"{path}: silent recording (no speech found)")
    audio = Audio(
        path=path,
        sha256=sha256_file(path),
        channels=samples,
        original_sample_rate=info["sample_rate"],
        original_channels=info["channels"],
        codec=info["codec"],
        format=info["format"],
    )
    if info["channels"] > 2:
        audio.notes.append(f"{info['channels']} channels downmixed to mono")
    return audio


# --------------------------------------------------------------------------- channel detection

FRAME_SECONDS = 0.02
# A channel "owns" a frame when it is this many dB louder than the other one.
DOMINANCE_DB = 6.0


@dataclass
class ChannelReport:
    """Whether each channel of a stereo recording carries its own speaker, and the numbers behind it."""

    separate_speakers: bool
    correlation: float
    active_frames: int
    left_share: float  # share of active frames that the left channel dominates
    right_share: float
    reason: str


def frame_energies_db(channels: np.ndarray, frame_seconds: float = FRAME_SECONDS) -> np.ndarray:
    """Per-frame RMS level in dBFS, shape (n_channels, n_frames)."""
    hop = int(SAMPLE_RATE * frame_seconds)
    n = channels.shape[1] // hop
    framed = channels[:, : n * hop].reshape(channels.shape[0], n, hop)
    rms = np.sqrt(np.mean(framed.astype(np.float64) ** 2, axis=2) + 1e-12)
    return 20 * np.log10(rms)


def analyse_channels(audio: Audio) -> ChannelReport:
    """Decide whether a stereo recording has one speaker per channel (two lapel microphones).

    Identical or near-identical channels (a mono recording saved as stereo, or
    one room microphone) are not. Separate speakers show as frames where one
    channel is much louder than the other, with each channel dominating a fair
    share of the speech.
    """
    if audio.n_channels != 2:
        return ChannelReport(False, 1.0, 0, 0.0, 0.0, "mono recording")
    left, right = audio.channels
    if np.std(left) < 1e-6 or np.std(right) < 1e-6:
        return ChannelReport(False, 0.0, 0, 0.0, 0.0, "one channel is silent")
    correlation = float(np.corrcoef(left, right)[0, 1])
    if correlation > 0.9:
        return ChannelReport(
            False, correlation, 0, 0.0, 0.0, f"channels nearly identical (r={correlation:.2f})"
        )
    db = frame_energies_db(audio.channels)
    loudest = db.max(axis=0)
    active = loudest > max(loudest.max() - 35.0, -60.0)
    if active.sum() < 10:
        return ChannelReport(False, correlation, int(active.sum()), 0.0, 0.0, "too little sound")
    diff = db[0, active] - db[1, active]
    left_share = float(np.mean(diff > DOMINANCE_DB))
    right_share = float(np.mean(diff < -DOMINANCE_DB))
    separate = left_share >= 0.1 and right_share >= 0.1 and left_share + right_share >= 0.6
    reason = (
        f"left dominates {left_share:.0%} and right {right_share:.0%} of active frames (r={correlation:.2f})"
    )
    return ChannelReport(separate, correlation, int(active.sum()), left_share, right_share, reason)
