"""Make torchaudio importable beside the pinned CPU torch, by removing its native libraries if they cannot load.

pyannote.audio (the ``pyannote`` extra) depends on torchaudio, and PyPI's
only torchaudio wheels for recent torch are CUDA builds compiled against
another torch (2.11): their ``_torchaudio.so`` fails to load beside
torch==2.13.0+cpu (``libc10_cuda.so`` missing), and then ``import
torchaudio`` raises OSError, in pyannote.audio and in any library that
imports torchaudio when it is installed (transformers does). torchaudio
imports cleanly without its native libraries ("extension not available");
the pure-torch parts pyannote.audio uses (``functional.resample``,
``compliance.kaldi``) then work as before. So: if the import fails for
that reason, delete the unloadable ``torchaudio/lib/*.so`` files and check
again. Idempotent; does nothing when torchaudio is absent or loads.

Run by ``make install`` after pip: ``python scripts/torchaudio_python_only.py``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

CHECK = "import torchaudio, torchaudio.functional, torchaudio.compliance.kaldi"


def imports_cleanly() -> tuple[bool, str]:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    return done.returncode == 0, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def main() -> int:
    spec = importlib.util.find_spec("torchaudio")
    if spec is None or spec.origin is None:
        return 0
    ok, error = imports_cleanly()
    if ok:
        return 0
    libs = sorted((Path(spec.origin).parent / "lib").glob("*.so"))
    if ("Could not load this library" not in error and "libc10_cuda" not in error) or not libs:
        print(f"torchaudio does not import, for another reason: {error}", file=sys.stderr)
        return 1
    for lib in libs:
        lib.unlink()
    ok, error = imports_cleanly()
    print(f"torchaudio: removed {len(libs)} native libraries built for another torch; imports now: {ok}")
    if not ok:
        print(error, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
