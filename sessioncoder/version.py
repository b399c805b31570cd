"""The package version, in one place (the CLI, batch cache keys and provenance read it)."""

__version__ = "0.1.0"
