"""sessioncoder: codes recorded probation supervision sessions, offline.

The public API is small; every stage reads one saved artefact and writes the next::

    from sessioncoder import read_transcript, load_codebook, code_transcript
    session = code_transcript(read_transcript("session.txt"), load_codebook("stics"))
    session.save("session.session.json")
"""

from __future__ import annotations

import os

# Nothing leaves the machine: no hub downloads, no telemetry, whatever the libraries' defaults.
for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "PYANNOTE_METRICS_ENABLED": "0",
    "DO_NOT_TRACK": "1",
}.items():
    os.environ.setdefault(_name, _value)

from sessioncoder.coding.codebook import load_codebook  # noqa: E402
from sessioncoder.pipeline import code_recording, code_transcript, read_input  # noqa: E402
from sessioncoder.schema import CodedSession, Transcript, load_session  # noqa: E402
from sessioncoder.transcripts import read_transcript  # noqa: E402
from sessioncoder.version import __version__  # noqa: E402

__all__ = [
    "CodedSession",
    "Transcript",
    "__version__",
    "code_recording",
    "code_transcript",
    "load_codebook",
    "load_session",
    "read_input",
    "read_transcript",
]
