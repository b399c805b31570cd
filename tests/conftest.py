"""Shared test set-up: offline environment, a network guard and paths to fixtures."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from distributed import WorkerPlugin

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "0")

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


class NetworkAttempt(AssertionError):
    pass


_LOCAL_PREFIXES = ("127.", "::1", "localhost")


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = str(address[0]) if address else ""
    return host.startswith(_LOCAL_PREFIXES)


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test on any outbound connection or DNS look-up to a non-loopback host.

    Records attempts too, so a test can assert that none was made even where
    the code under test swallows the exception.
    """
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(self, address):
        if not _is_local(address):
            attempts.append(address)
            raise NetworkAttempt(f"network connection attempted to {address!r}")
        return real_connect(self, address)

    def guarded_connect_ex(self, address):
        if not _is_local(address):
            attempts.append(address)
            raise NetworkAttempt(f"network connection attempted to {address!r}")
        return real_connect_ex(self, address)

    real_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host is not None and not str(host).startswith(_LOCAL_PREFIXES):
            attempts.append(host)
            raise NetworkAttempt(f"DNS look-up attempted for {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield attempts
    assert not attempts, f"network attempts: {attempts}"


class LoopbackOnly(WorkerPlugin):
    """The same guard inside each dask worker process of a test cluster: loopback only, nothing else.

    A worker cannot fail a test by itself, so it raises on the attempt, which
    the session's task reports as its error.
    """

    name = "sessioncoder-loopback-only"

    def setup(self, worker) -> None:
        real_connect, real_connect_ex, real_getaddrinfo = (
            socket.socket.connect,
            socket.socket.connect_ex,
            socket.getaddrinfo,
        )

        def connect(sock, address):
            if not _is_local(address):
                raise NetworkAttempt(f"network connection attempted to {address!r} from a dask worker")
            return real_connect(sock, address)

        def connect_ex(sock, address):
            if not _is_local(address):
                raise NetworkAttempt(f"network connection attempted to {address!r} from a dask worker")
            return real_connect_ex(sock, address)

        def getaddrinfo(host, *args, **kwargs):
            if host is not None and not str(host).startswith(_LOCAL_PREFIXES):
                raise NetworkAttempt(f"DNS look-up attempted for {host!r} from a dask worker")
            return real_getaddrinfo(host, *args, **kwargs)

        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES
