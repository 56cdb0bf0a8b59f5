"""The installed distribution's version (importlib.metadata is read only when asked)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("capplan")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"
