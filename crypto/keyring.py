"""The terminal's keys at rest, wrapped under the device key-encrypting key.

Layout in the data directory (both files mode 0600, the directory 0700)::

    kek.key        32 random bytes: the device KEK (or absent when a secure
                   element holds it; see ``KekProvider``)
    keyring.json   every other key, wrapped with AES key wrap with padding
                   (RFC 5649) under the KEK, with its usage, version and KCV

Only wrapped keys, check values and metadata are ever written. The file is
replaced atomically (write, fsync, rename, fsync the directory), so a power
cut leaves either the old key ring or the new one, never half of each.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets as _random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)

from crypto.keys import KeyUsage, kcv
from crypto.secrets import SecretKey
from firmware.errors import CryptoError
from firmware.files import naming, write_atomic, write_private

__all__ = ["KekProvider", "FileKek", "Keyring", "KeyEntry", "write_private", "write_atomic", "KEK_FILE", "KEYRING_FILE"]

KEK_FILE = "kek.key"
KEYRING_FILE = "keyring.json"
FORMAT = 1


class KekProvider(Protocol):
    """Whatever holds the device KEK: a file today, a secure element or TPM later."""

    def wrap(self, key: bytes) -> bytes: ...

    def unwrap(self, wrapped: bytes) -> bytes: ...

    def check_value(self) -> str: ...


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def _directory_locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``'s directory while a ring is compared and replaced
    (released when closed, and by the kernel if the process dies)."""
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError as e:
        raise naming(e, path) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class FileKek:
    """A 256-bit KEK kept in a 0600 file under the data directory."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            st = self.path.stat()
        except FileNotFoundError:
            raise CryptoError(
                f"device key file {self.path} is missing: provision the terminal first", code="keys.not_provisioned"
            ) from None
        if st.st_mode & 0o077:
            raise CryptoError(f"device key file {self.path} must be mode 0600", code="keys.permissions")
        raw = self.path.read_bytes()
        if len(raw) != 32:
            raise CryptoError(f"device key file {self.path} is damaged", code="keys.kek_damaged")
        self._key = raw

    @classmethod
    def create(cls, path: Path) -> FileKek:
        path = Path(path)
        if path.exists():
            raise CryptoError(f"device key file {path} already exists", code="keys.exists")
        write_private(path, _random.token_bytes(32))
        return cls(path)

    def wrap(self, key: bytes) -> bytes:
        return aes_key_wrap_with_padding(self._key, key)

    def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return aes_key_unwrap_with_padding(self._key, wrapped)
        except InvalidUnwrap:
            raise CryptoError("a stored key does not unwrap under the device key", code="keys.unwrap") from None

    def check_value(self) -> str:
        return kcv(self._key, algorithm="aes")

    def __repr__(self) -> str:
        return f"<FileKek {self.path}>"


@dataclass(frozen=True)
class KeyEntry:
    usage: str
    version: int
    wrapped: bytes
    kcv: str
    note: str = ""


class Keyring:
    """Wrapped keys by usage and version, backed by ``keyring.json``.

    One writer at a time: ``save`` refuses (``keys.ring_changed``) to replace a file that
    another process changed (or removed, or created) since this ring read or wrote it, so
    a second writer's keys are never written over; a posterm run's sign-on beside a
    rotation, an injection or a zeroize would otherwise write back the ring it loaded at
    boot (and records sealed under a data key that no longer exists). The run lock
    (``firmware.runlock``) keeps those writers away from a running terminal; this check
    is the last line. The comparison is of the content (SHA-256) under an exclusive lock
    on the data directory, so two savers cannot both pass it.
    """

    def __init__(self, path: Path, kek: KekProvider, entries: Iterable[KeyEntry] = ()) -> None:
        self.path = Path(path)
        self.kek = kek
        self._entries: dict[tuple[str, int], KeyEntry] = {(e.usage, e.version): e for e in entries}
        self._seen: str | None = None  # digest of the file as last read or written; None: there was none

    # -- persistence --------------------------------------------------------
    @classmethod
    def load(cls, data_dir: Path, kek: KekProvider | None = None) -> Keyring:
        data_dir = Path(data_dir)
        kek = kek if kek is not None else FileKek(data_dir / KEK_FILE)
        path = data_dir / KEYRING_FILE
        if not path.exists():
            return cls(path, kek)
        if path.stat().st_mode & 0o077:
            raise CryptoError(f"key ring {path} must be mode 0600", code="keys.permissions")
        raw = path.read_bytes()
        try:
            doc = json.loads(raw)
            if doc.get("format") != FORMAT:
                raise ValueError("format")
            if doc.get("kek_kcv") != kek.check_value():
                raise CryptoError(
                    f"key ring {path} was written under another device key", code="keys.kek_mismatch"
                )
            entries = [
                KeyEntry(e["usage"], int(e["version"]), bytes.fromhex(e["wrapped"]), e["kcv"], e.get("note", ""))
                for e in doc["keys"]
            ]
        except CryptoError:
            raise
        except (ValueError, KeyError, TypeError):
            raise CryptoError(f"key ring {path} is damaged", code="keys.ring_damaged") from None
        ring = cls(path, kek, entries)
        ring._seen = _digest(raw)
        return ring

    def save(self) -> None:
        """Write the ring atomically; ``keys.ring_changed`` (nothing written) if another process
        changed the file since this ring last read or wrote it."""
        doc = {
            "format": FORMAT,
            "kek_kcv": self.kek.check_value(),
            "keys": [
                {"usage": e.usage, "version": e.version, "wrapped": e.wrapped.hex(), "kcv": e.kcv, "note": e.note}
                for e in sorted(self._entries.values(), key=lambda e: (e.usage, e.version))
            ],
        }
        data = (json.dumps(doc, indent=1) + "\n").encode()
        with _directory_locked(self.path):
            try:
                on_disk = _digest(self.path.read_bytes())
            except FileNotFoundError:
                on_disk = None
            except OSError as e:
                raise naming(e, self.path) from None
            if on_disk != self._seen:
                raise CryptoError(f"key ring {self.path} was changed by another program since this one read it: "
                                  "nothing written; restart to use the keys on disk", code="keys.ring_changed")
            write_private(self.path, data)
        self._seen = _digest(data)

    def removed(self) -> bool:
        """The file this ring was read from (or last wrote) is gone: a zeroize by another process
        that could not write its record (``crypto.tamper``) leaves exactly that."""
        return self._seen is not None and not self.path.exists()

    @contextlib.contextmanager
    def batch(self) -> Iterator[Keyring]:
        """Changes made inside (with ``save=False``) are saved once at the end,
        or all undone in memory if anything fails before the save completes."""
        before = dict(self._entries)
        try:
            yield self
            self.save()
        except BaseException:
            self._entries = before
            raise

    # -- keys -----------------------------------------------------------------
    def versions(self, usage: KeyUsage | str) -> list[int]:
        usage = str(usage)
        return sorted(v for (u, v) in self._entries if u == usage)

    def has(self, usage: KeyUsage | str) -> bool:
        return bool(self.versions(usage))

    def entry(self, usage: KeyUsage | str, version: int | None = None) -> KeyEntry:
        usage = str(usage)
        versions = self.versions(usage)
        if not versions:
            raise CryptoError(f"no {usage} key is loaded", code="keys.missing")
        version = versions[-1] if version is None else version
        try:
            return self._entries[(usage, version)]
        except KeyError:
            raise CryptoError(f"no {usage} key version {version}", code="keys.missing") from None

    def get(self, usage: KeyUsage | str, version: int | None = None) -> SecretKey:
        e = self.entry(usage, version)
        key = SecretKey(self.kek.unwrap(e.wrapped), usage=e.usage)
        if kcv(key) != e.kcv:
            key.wipe()
            raise CryptoError(f"the stored {e.usage} key fails its check value", code="keys.kcv")
        return key

    def put(self, usage: KeyUsage | str, key: SecretKey, *, note: str = "", save: bool = True) -> KeyEntry:
        """Add ``key`` as the newest version for ``usage`` and persist the ring."""
        usage = str(usage)
        key = SecretKey(key.reveal(), usage=usage)
        versions = self.versions(usage)
        entry = KeyEntry(usage, (versions[-1] + 1) if versions else 1, self.kek.wrap(key.reveal()), kcv(key), note)
        with self._saved_if(save):
            self._entries[(usage, entry.version)] = entry
        return entry

    def drop(self, usage: KeyUsage | str, version: int | None = None, *, save: bool = True) -> None:
        usage = str(usage)
        with self._saved_if(save):
            for v in [version] if version is not None else self.versions(usage):
                self._entries.pop((usage, v), None)

    def _saved_if(self, save: bool) -> contextlib.AbstractContextManager:
        """Saved now (and undone in memory if the save fails), or left for the caller's ``batch``."""
        return self.batch() if save else contextlib.nullcontext()

    def generate(self, usage: KeyUsage | str, length: int = 32, *, note: str = "") -> KeyEntry:
        return self.put(usage, SecretKey(_random.token_bytes(length), usage=str(usage)), note=note)

    def summary(self) -> list[dict]:
        """Usage, version and KCV of every key: safe to print."""
        return [
            {"usage": e.usage, "version": e.version, "kcv": e.kcv, "note": e.note}
            for e in sorted(self._entries.values(), key=lambda e: (e.usage, e.version))
        ]

    def __repr__(self) -> str:
        return f"<Keyring {self.path} {len(self._entries)} keys>"
