"""Errors of the media plane. Each carries a stable code the signaling layer passes on."""

from __future__ import annotations


class SeamMismatch(RuntimeError):
    """The installed aiortc no longer fits the encoded-frame seam (visual/seam.py)."""


class MediaError(Exception):
    """A media request that cannot be served: ``bad_sdp``, ``consent``, ``not_found``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
