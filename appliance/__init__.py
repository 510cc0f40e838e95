"""The Tillbox store appliance: the store's system of record, serving the registers."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tillbox")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
