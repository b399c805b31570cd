"""Benchmarks: `make bench` (python -m bench) runs every bench_*.py module's run()."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The reference data beside the repository (../shared/data), or where SESSIONCODER_SHARED_DATA says.
SHARED_DATA = Path(os.environ.get("SESSIONCODER_SHARED_DATA", REPO.parent / "shared" / "data"))
