"""Atomic writes: all or nothing, private by default, permissions of a replaced file kept."""

from __future__ import annotations

import stat

import pytest

from sessioncoder.fileio import atomic_open, write_text_atomic


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_is_private(tmp_path):
    out = tmp_path / "report.md"
    write_text_atomic(out, "text")
    assert out.read_text() == "text"
    assert mode(out) == 0o600


def test_replacing_keeps_the_users_permissions(tmp_path):
    out = tmp_path / "report.md"
    out.write_text("old")
    out.chmod(0o640)
    write_text_atomic(out, "new")
    assert out.read_text() == "new"
    assert mode(out) == 0o640


def test_failed_write_leaves_old_file_and_no_temp(tmp_path):
    out = tmp_path / "session.json"
    out.write_text("finished work")
    with pytest.raises(RuntimeError), atomic_open(out) as handle:
        handle.write("half")
        raise RuntimeError("interrupted")
    assert out.read_text() == "finished work"
    assert [p.name for p in tmp_path.iterdir()] == ["session.json"]


def test_orphaned_temps_of_dead_local_processes_are_removed(tmp_path):
    import os
    import socket
    import subprocess

    from sessioncoder.fileio import _owner, remove_orphaned_temps

    host = _owner().rsplit("-", 1)[0]
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = tmp_path / f".s1.session.json.{host}-{dead.pid}.abc123.tmp"
    live = tmp_path / f".s2.session.json.{host}-{os.getpid()}.def456.tmp"
    elsewhere = tmp_path / f".s3.session.json.other_{socket.gethostname()[:3]}x-{dead.pid}.ghi789.tmp"
    for path in (orphan, live, elsewhere):
        path.write_text("half")
    assert remove_orphaned_temps(tmp_path) == 1
    assert not orphan.exists() and live.exists() and elsewhere.exists()
