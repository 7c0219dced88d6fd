"""Recorded media encrypted at rest: one key per file, wrapped by the configured key.

A sealed file keeps the property the plain recordings have: a process killed while
writing leaves a file that reads back up to the last piece it wrote. It is a header and
then independently authenticated segments, each one piece of the WebM as the muxer
flushed it (a cluster, about 250 ms of media):

    header   "LDSEAL1\\n" (8) | key id (8) | wrapped file key (40) | nonce prefix (4)
    segment  plaintext length n (4, big-endian) | AES-256-GCM ciphertext (n) | tag (16)

- The **file key** is 32 random bytes, wrapped with AES key wrap (RFC 3394) under the
  configured key-encryption key (KEK). The **key id** (a hash of the KEK) says which KEK
  a file needs, so a wrong key is reported as such.
- Segment *i* is encrypted with nonce = prefix | *i* (8 bytes), and its associated data
  binds the SHA-256 of the header and *i*: segments cannot be reordered, dropped from the
  middle unnoticed, or moved to another file. A changed byte fails authentication.
- A reader ignores an incomplete last segment (a crash mid-write) and serves the rest.

Readers are seekable file objects, so PyAV can demux a sealed file directly, and
:func:`read_range` serves HTTP ranges of the plaintext.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

MAGIC = b"LDSEAL1\n"
HEADER_SIZE = 8 + 8 + 40 + 4
TAG = 16
MAX_SEGMENT = 1 << 20
"""Bytes of plaintext at most per segment; a write buffer is sealed when it gets this big."""


class SealedError(Exception):
    """A sealed file or key that cannot be used; ``code`` is stable, ``message`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def load_kek(path: Path) -> bytes:
    """The 32-byte key in ``path``, written as base64 or as 64 hex digits."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SealedError("missing_key", f"cannot read the key file {path}: {exc}") from None
    key: bytes | None = None
    if len(text) == 64:
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = None
    if key is None:
        try:
            key = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            key = None
    if key is None or len(key) != 32:
        raise SealedError("bad_key", f"{path} must hold a 32-byte key, as base64 or 64 hex digits")
    return key


def new_kek_file(path: Path) -> None:
    """Write a fresh random key to ``path`` (base64, mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    os.chmod(path, 0o600)


def kek_id(kek: bytes) -> bytes:
    return hashlib.sha256(b"livedesk recording key id\x00" + kek).digest()[:8]


def _nonce(prefix: bytes, index: int) -> bytes:
    return prefix + struct.pack(">Q", index)


def _aad(header_hash: bytes, index: int) -> bytes:
    return header_hash + struct.pack(">Q", index)


class SealedWriter:
    """A write-only, non-seekable binary file that seals what is written to it."""

    def __init__(self, path: Path, kek: bytes) -> None:
        if len(kek) != 32:
            raise SealedError("bad_key", "the key-encryption key must be 32 bytes")
        self._key = secrets.token_bytes(32)
        self._prefix = secrets.token_bytes(4)
        header = MAGIC + kek_id(kek) + aes_key_wrap(kek, self._key) + self._prefix
        self._hash = hashlib.sha256(header).digest()
        self._aead = AESGCM(self._key)
        self._file: BinaryIO = open(path, "wb")
        try:
            self._file.write(header)
            self._file.flush()
        except OSError:  # a full disk: no descriptor is left open behind the error
            with contextlib.suppress(OSError):
                self._file.close()
            raise
        self._buffer = bytearray()
        self._index = 0
        self._written = 0
        self.closed = False

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def tell(self) -> int:
        """Plaintext bytes written so far."""
        return self._written + len(self._buffer)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Take a piece the muxer flushed: it is sealed and handed to the OS at once."""
        if self.closed:
            raise ValueError("write to a closed SealedWriter")
        self._buffer += data
        n = len(data)
        self._seal()
        return n

    def flush(self) -> None:
        self._seal()

    def close(self) -> None:
        if self.closed:
            return
        self._seal()
        self._file.close()
        self.closed = True

    def _seal(self) -> None:
        while self._buffer:
            piece = bytes(self._buffer[:MAX_SEGMENT])
            del self._buffer[:MAX_SEGMENT]
            box = self._aead.encrypt(
                _nonce(self._prefix, self._index), piece, _aad(self._hash, self._index)
            )
            self._file.write(struct.pack(">I", len(piece)) + box)
            self._index += 1
            self._written += len(piece)
        # to the OS, not to the disk: a killed process loses nothing written here
        self._file.flush()


class SealedReader:
    """A read-only, seekable view of a sealed file's plaintext (complete segments only)."""

    def __init__(self, path: Path, kek: bytes) -> None:
        self._file: BinaryIO = open(path, "rb")
        try:
            header = self._file.read(HEADER_SIZE)
            if len(header) < HEADER_SIZE or not header.startswith(MAGIC):
                raise SealedError("not_sealed", f"{path.name} is not a sealed recording")
            if header[8:16] != kek_id(kek):
                raise SealedError("wrong_key", f"{path.name} was sealed with another key")
            try:
                key = aes_key_unwrap(kek, header[16:56])
            except InvalidUnwrap:
                raise SealedError(
                    "wrong_key", f"{path.name}: the file key does not unwrap"
                ) from None
            self._aead = AESGCM(key)
            self._prefix = header[56:60]
            self._hash = hashlib.sha256(header).digest()
            self._segments = self._index()
        except BaseException:
            self._file.close()
            raise
        self.size = self._segments[-1][1] + self._segments[-1][2] if self._segments else 0
        self._pos = 0
        self._cached: tuple[int, bytes] | None = None
        self.closed = False

    def _index(self) -> list[tuple[int, int, int]]:
        """(file offset of the ciphertext, plaintext offset, plaintext length) per segment."""
        out: list[tuple[int, int, int]] = []
        end = os.fstat(self._file.fileno()).st_size
        offset, plain = HEADER_SIZE, 0
        while offset + 4 <= end:
            self._file.seek(offset)
            (n,) = struct.unpack(">I", self._file.read(4))
            if n > MAX_SEGMENT or offset + 4 + n + TAG > end:
                break  # a segment cut short by a crash: the file ends before it
            out.append((offset + 4, plain, n))
            offset += 4 + n + TAG
            plain += n
        return out

    def _segment(self, i: int) -> bytes:
        if self._cached is not None and self._cached[0] == i:
            return self._cached[1]
        at, _, n = self._segments[i]
        self._file.seek(at)
        box = self._file.read(n + TAG)
        try:
            data = self._aead.decrypt(_nonce(self._prefix, i), box, _aad(self._hash, i))
        except InvalidTag:
            raise SealedError("tampered", f"segment {i} failed authentication") from None
        self._cached = (i, data)
        return data

    def _find(self, pos: int) -> int:
        lo, hi = 0, len(self._segments) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._segments[mid][1] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo

    # ------------------------------------------------------------ file protocol
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self._pos
        out = bytearray()
        while n > 0 and self._pos < self.size:
            i = self._find(self._pos)
            data = self._segment(i)
            start = self._pos - self._segments[i][1]
            piece = data[start : start + n]
            out += piece
            self._pos += len(piece)
            n -= len(piece)
        return bytes(out)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        self.closed = True

    def __enter__(self) -> SealedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def plain_size(path: Path, kek: bytes) -> int:
    """Plaintext bytes a sealed file holds (complete segments)."""
    with SealedReader(path, kek) as reader:
        return reader.size


def read_range(path: Path, kek: bytes, first: int, last: int) -> bytes:
    """Plaintext bytes ``first`` to ``last`` inclusive (an HTTP byte range)."""
    with SealedReader(path, kek) as reader:
        reader.seek(first)
        return reader.read(last - first + 1)
