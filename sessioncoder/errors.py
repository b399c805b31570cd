"""Errors that the command line turns into one clear line and exit code 2."""

from __future__ import annotations


class SessionCoderError(Exception):
    """Base class for errors that are the user's input, not a bug in sessioncoder."""

    exit_code = 2


class InputError(SessionCoderError):
    """A missing, empty, unreadable or malformed input file."""


class CodebookError(SessionCoderError):
    """An unknown codebook id or a codebook file that does not validate."""


class AudioError(InputError):
    """A recording that cannot be decoded or holds no usable speech."""


class ModelError(SessionCoderError):
    """A model that cannot be found, joined or verified."""
