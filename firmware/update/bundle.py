"""Update bundles: their format, the keys a terminal trusts, and verifying one (the device's first step).

Building and signing, the vendor's side, is ``firmware.update.build``.

Bundle (one ``.tar.gz``; members in this order, so the signature is checked
before any file is read)::

    manifest.json   {"format", "product", "version", "created", "files": [{"path", "sha256", "size", "mode"}],
                     "schema": {"latest", "readable_by", "reads_record"}}
    manifest.sig    {"format", "algorithm": "ed25519", "key_id", "signature"}: detached, over manifest.json's bytes
    files/PATH      one regular file per manifest entry, nothing else

Tar headers are not trusted (the signature does not cover them): only regular
files the signed manifest names are accepted, with the manifest's modes.

``schema`` is the firmware's database schema (``firmware/update/schema.py``), read
from the tree's ``storage/migrations.py`` at build time; ``apply`` copies it into the
slot's marker so that a rollback can judge the database. Bundles from before it have
none, and older updaters ignore it.
Module level imports are stdlib-light: the CLI builds its parser at every start.
"""


from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from firmware.errors import (
    ConfigError,
    CryptoError,
)
from firmware.update.schema import SlotSchema

__all__ = ["FileEntry", "Manifest", "Verified", "key_id", "load_trusted_keys", "verify_bundle"]

log = logging.getLogger(__name__)

FORMAT = 1
PRODUCT = "posterm"
DEFAULT_TRUST = Path("/etc/posterm/update-keys.pem")
MARKER = ".posterm-slot.json"
MANIFEST_NAME, SIGNATURE_NAME, FILES_PREFIX = "manifest.json", "manifest.sig", "files/"
MAX_MANIFEST, MAX_SIGNATURE = 8 << 20, 64 << 10
_VERSION = re.compile(r"[0-9]{1,9}(\.[0-9]{1,9}){0,5}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_SHA256 = re.compile(r"[0-9a-f]{64}")



def _bad(text: str) -> CryptoError:
    return CryptoError(text, code="update.bad_bundle")


def _safe_path(path: str) -> bool:
    """A manifest path that stays inside the slot: relative, no ``..``/``.``/empty parts, no marker."""
    if not path or len(path) > 1024 or path.startswith("/") or "\\" in path or "\0" in path:
        return False
    parts = path.split("/")
    return all(p not in ("", ".", "..") for p in parts) and path != MARKER


def _version_key(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _check_version(version: str) -> str:
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise ConfigError(f"version {str(version)[:40]!r} must be dotted numbers such as 1.4.2", code="update.bad_version")
    return version


def _utcnow():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- manifest ----------------------------------------------------------------------
@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int
    mode: int  # 0o644 or 0o755; the tar header's mode is never used


@dataclass(frozen=True)
class Manifest:
    version: str
    created: str
    files: tuple[FileEntry, ...]
    schema: SlotSchema | None = None  # None: a bundle from before schemas were recorded

    def to_bytes(self) -> bytes:
        doc = {"format": FORMAT, "product": PRODUCT, "version": self.version, "created": self.created,
               "files": [{"path": f.path, "sha256": f.sha256, "size": f.size, "mode": f.mode} for f in self.files]}
        if self.schema is not None:
            doc["schema"] = self.schema.to_dict()
        return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        """Check every field: even a signed manifest may not name a path outside the slot."""
        try:
            doc = json.loads(raw)
            if doc["format"] != FORMAT or doc["product"] != PRODUCT:
                raise _bad("the bundle is not a posterm update of a format this firmware reads")
            files = tuple(FileEntry(str(f["path"]), str(f["sha256"]), int(f["size"]), int(f["mode"])) for f in doc["files"])
            schema = SlotSchema.from_dict(doc["schema"]) if "schema" in doc else None
            if "schema" in doc and schema is None:
                raise _bad("the bundle's manifest has a malformed schema")
            manifest = cls(_check_version(doc["version"]), str(doc["created"]), files, schema)
        except CryptoError:
            raise
        except (ValueError, KeyError, TypeError):
            raise _bad("the bundle's manifest is malformed") from None
        paths = set()
        for f in files:
            if not _safe_path(f.path):
                raise _bad(f"the manifest names an unsafe path {f.path[:80]!r}")
            if f.path in paths or not _SHA256.fullmatch(f.sha256) or f.size < 0 or f.mode not in (0o644, 0o755):
                raise _bad(f"the manifest entry for {f.path!r} is malformed or repeated")
            paths.add(f.path)
        parents = {"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)}
        if parents & paths or "pyproject.toml" not in paths:
            raise _bad("the manifest's files do not form a posterm tree")
        return manifest


def key_id(public_key) -> str:
    """16 hex digits naming an Ed25519 public key (SHA-256 of its raw bytes)."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return hashlib.sha256(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]



def _check_signature(raw: bytes, sig_raw: bytes, trusted: Mapping[str, object]) -> str:
    import base64

    from cryptography.exceptions import InvalidSignature

    try:
        doc = json.loads(sig_raw)
        kid, signature = doc["key_id"], base64.b64decode(doc["signature"], validate=True)
        if doc["algorithm"] != "ed25519" or not isinstance(kid, str) or not _KEY_ID.fullmatch(kid):
            raise ValueError("algorithm or key id")
    except (ValueError, KeyError, TypeError):
        raise CryptoError("the bundle's signature is unreadable", code="update.bad_signature") from None
    key = trusted.get(kid)
    if key is None:
        raise CryptoError(f"the bundle is signed by key {kid}, which this terminal does not trust",
                          code="update.untrusted_key")
    try:
        key.verify(signature, raw)
    except InvalidSignature:
        raise CryptoError("the bundle's signature does not verify: it was altered or forged",
                          code="update.bad_signature") from None
    return kid


# -- keys ----------------------------------------------------------------------------
def load_trusted_keys(path: Path) -> dict[str, object]:
    """The Ed25519 public keys (PEM blocks, one or more) this terminal accepts updates from, by key id."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    path = Path(path)
    try:
        mode, text = path.stat().st_mode, path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"trusted update keys file {path} is missing", code="update.no_trust") from None
    if mode & 0o022:
        raise ConfigError(f"trusted update keys file {path} must not be writable by group or others",
                          code="update.trust_permissions")
    keys = {}
    for block in re.findall(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", text, re.DOTALL):
        try:
            key = load_pem_public_key(block)
        except (ValueError, UnsupportedAlgorithm):
            raise ConfigError(f"trusted update keys file {path} holds a damaged key", code="update.bad_trust") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"trusted update keys file {path} holds a key that is not Ed25519", code="update.bad_trust")
        keys[key_id(key)] = key
    if not keys:
        raise ConfigError(f"trusted update keys file {path} holds no public key", code="update.bad_trust")
    return keys


# -- bundles ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Verified:
    manifest: Manifest
    key_id: str
    digest: str  # SHA-256 of manifest.json: the second pass must read the same manifest


@contextlib.contextmanager
def _reading(bundle: Path):
    """The bundle as a tar stream; any unreadable structure is ``update.bad_bundle``."""
    import gzip
    import tarfile
    import zlib

    try:
        tar = tarfile.open(bundle, mode="r|gz")  # noqa: SIM115 (closed by the with below, errors mapped here)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile):
        raise _bad(f"{bundle} is not a readable bundle") from None
    except OSError as e:
        raise ConfigError(f"cannot read bundle {bundle} ({e.strerror})", code="update.no_bundle") from None
    try:
        with tar:
            yield tar
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile):
        raise _bad(f"{bundle} is truncated or damaged") from None


def _read_member(tar, name: str, limit: int) -> bytes:
    import tarfile

    member = tar.next()
    if member is None or member.name != name or member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        raise _bad(f"the bundle does not start with {MANIFEST_NAME} and {SIGNATURE_NAME}")
    if member.size > limit:
        raise _bad(f"the bundle's {name} is too large")
    return tar.extractfile(member).read()


def _read_header(tar, trusted: Mapping[str, object]) -> tuple[bytes, str]:
    raw = _read_member(tar, MANIFEST_NAME, MAX_MANIFEST)
    kid = _check_signature(raw, _read_member(tar, SIGNATURE_NAME, MAX_SIGNATURE), trusted)
    return raw, kid


_KINDS = {"1": "hard link", "2": "symbolic link", "3": "character device", "4": "block device", "5": "directory",
          "6": "FIFO"}


def _files(tar, manifest: Manifest) -> Iterator[tuple[FileEntry, bytes]]:
    """Each manifest file with its checked content; refuses anything else in the tar."""
    import tarfile

    expected = {f.path: f for f in manifest.files}
    seen: set[str] = set()
    while (member := tar.next()) is not None:
        name = member.name
        path = name.removeprefix(FILES_PREFIX)
        if not _safe_path(path):
            raise _bad(f"bundle member {name[:80]!r} has an unsafe path")
        if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
            kind = _KINDS.get(member.type.decode(errors="replace"), "special member")
            raise _bad(f"bundle member {name[:80]!r} is a {kind}: only regular files are allowed")
        entry = expected.get(path) if name.startswith(FILES_PREFIX) else None
        if entry is None or path in seen:
            raise _bad(f"bundle member {name[:80]!r} is not in the manifest or appears twice")
        if member.size != entry.size:
            raise _bad(f"{path} is not the size its manifest entry says")
        data = tar.extractfile(member).read()
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            raise _bad(f"{path} does not match its SHA-256 in the manifest")
        seen.add(path)
        yield entry, data
    missing = sorted(expected.keys() - seen)
    if missing:
        raise _bad(f"the bundle lacks {len(missing)} file(s) of its manifest, {missing[0]!r} first")


def verify_bundle(bundle: Path, trusted: Mapping[str, object]) -> Verified:
    """Check signature, manifest and every file; writes nothing."""
    with _reading(Path(bundle)) as tar:
        raw, kid = _read_header(tar, trusted)
        manifest = Manifest.parse(raw)
        for _ in _files(tar, manifest):
            pass
    return Verified(manifest, kid, hashlib.sha256(raw).hexdigest())


# -- files ---------------------------------------------------------------------------
def _mkdir(path: Path) -> bool:
    """Create one directory readable by the service user whatever the umask; False if it existed."""
    try:
        path.mkdir(mode=0o755)
    except FileExistsError:
        return False
    os.chmod(path, 0o755)
    return True

