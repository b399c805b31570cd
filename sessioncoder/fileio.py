"""Atomic file writing and hashing.

Every output is written to a temporary file in the same directory and then
renamed, so an interrupted run never leaves a half-written file behind and a
reader never sees one.

New files are readable by their owner only (mode 0600): transcripts, codes and
reports describe people on probation, so sharing one is the user's decision.
Replacing a file keeps that file's mode, so a report the user has opened to
their team stays open after a re-run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _owner() -> str:
    """This host and process, in every temporary file's name, so a later run knows whose it was."""
    return f"{re.sub(r'[^A-Za-z0-9-]', '_', socket.gethostname())}-{os.getpid()}"  # per call: forks differ


_TEMP_NAME = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.[^.]+\.tmp$")


def remove_orphaned_temps(folder: str | Path) -> int:
    """Delete temporary files that a killed run of ours left in ``folder``; returns how many.

    Only files made on this host by a process that no longer exists are
    removed: another machine's worker writing to a shared folder, or a live
    run, keeps its own.
    """
    removed = 0
    host = _owner().rsplit("-", 1)[0]
    for path in Path(folder).glob(".*.tmp"):
        match = _TEMP_NAME.match(path.name)
        if not match or match["host"] != host:
            continue
        try:
            os.kill(int(match["pid"]), 0)
            continue  # still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # someone else's live process
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.{_owner()}.", suffix=".tmp", dir=path.parent)
    with contextlib.suppress(FileNotFoundError):
        os.chmod(fd, stat.S_IMODE(path.stat().st_mode))  # keep a replaced file's permissions
    binary = "b" in mode
    try:
        with os.fdopen(
            fd, mode, encoding=None if binary else encoding, newline=None if binary else ""
        ) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as handle:
        handle.write(text)


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
