"""Update bundles: build, sign and verify (the vendor's side, and the device's first step).

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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from firmware.errors import (
    ConfigError,
    CryptoError,
    StorageError,
)
from firmware.update.schema import SlotSchema, tree_schema

__all__ = [
    "FileEntry", "Manifest", "Verified", "build_bundle", "generate_keypair", "key_id", "load_trusted_keys",
    "sign_manifest", "verify_bundle",
]

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
# Not part of a build: what .gitignore keeps out of the repository (hidden names are skipped too).
_SKIP_NAMES = frozenset({"__pycache__", "build", "dist", "run"})
_SKIP_SUFFIXES = (".pyc", ".pyo", ".egg-info", ".db", ".db-wal", ".db-shm")



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


def sign_manifest(private_key, raw: bytes) -> bytes:
    import base64

    doc = {"format": FORMAT, "algorithm": "ed25519", "key_id": key_id(private_key.public_key()),
           "signature": base64.b64encode(private_key.sign(raw)).decode()}
    return (json.dumps(doc, sort_keys=True) + "\n").encode()


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
def generate_keypair(private_path: Path, public_path: Path) -> str:
    """A new vendor signing key (PKCS#8 PEM, mode 0600) and its public key; returns the key id."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    from crypto.keyring import write_private

    private_path, public_path = Path(private_path), Path(public_path)
    for path in (private_path, public_path):
        if path.exists():
            raise ConfigError(f"{path} already exists: refusing to overwrite a key", code="update.key_exists")
    key = Ed25519PrivateKey.generate()
    try:
        write_private(private_path, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        _write_atomic(public_path, key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    except OSError as e:
        raise StorageError(f"cannot write {e.filename or private_path} ({e.strerror})", code="update.io") from None
    return key_id(key.public_key())


def _load_signing_key(path: Path):
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(Path(path).read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(f"signing key {path} is missing", code="update.bad_key") from None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ConfigError(f"signing key {path} is not an unencrypted PEM private key", code="update.bad_key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing key {path} is not an Ed25519 key", code="update.bad_key")
    return key


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
def _source_files(source: Path) -> Iterator[tuple[str, Path]]:
    import stat

    for top, dirs, names in os.walk(source):
        at_top = Path(top) == source
        dirs[:] = sorted(d for d in dirs if not _skipped(d, at_top))
        for name in sorted(dirs) + sorted(n for n in names if not _skipped(n, at_top)):
            path = Path(top) / name
            rel = path.relative_to(source).as_posix()
            st = os.lstat(path)
            if stat.S_ISDIR(st.st_mode):
                continue
            if not stat.S_ISREG(st.st_mode):
                raise ConfigError(f"{rel} is a symbolic link or special file: bundles hold regular files only",
                                  code="update.bad_source")
            yield rel, path


def _skipped(name: str, at_top: bool) -> bool:
    return name.startswith(".") or name in _SKIP_NAMES or name.endswith(_SKIP_SUFFIXES) or (at_top and name == "data")


def build_bundle(source: Path, version: str, signing_key: Path, out: Path, *, clock: Callable = _utcnow) -> Manifest:
    """Sign the project tree at ``source`` as ``version`` into the bundle ``out`` (for the vendor or CI)."""
    import io
    import tarfile

    source, out = Path(source), Path(out)
    _check_version(version)
    key = _load_signing_key(signing_key)
    if not (source / "pyproject.toml").is_file():
        raise ConfigError(f"{source} has no pyproject.toml: not a posterm source tree", code="update.bad_source")
    schema = tree_schema(source)
    if schema is None:
        raise ConfigError(f"{source}/storage/migrations.py does not declare its MIGRATIONS in a form the updater "
                          "reads: the bundle could not record its database schema", code="update.bad_source")
    files, blobs = [], []
    for rel, path in _source_files(source):
        try:
            data, mode = path.read_bytes(), 0o755 if os.stat(path).st_mode & 0o111 else 0o644
        except OSError as e:
            raise ConfigError(f"cannot read {rel} ({e.strerror})", code="update.bad_source") from None
        files.append(FileEntry(rel, hashlib.sha256(data).hexdigest(), len(data), mode))
        blobs.append(data)
    moment = clock()
    manifest = Manifest(version, _iso(moment), tuple(files), schema)
    raw = manifest.to_bytes()
    members = [(MANIFEST_NAME, raw, 0o644), (SIGNATURE_NAME, sign_manifest(key, raw), 0o644)]
    members += [(FILES_PREFIX + f.path, data, f.mode) for f, data in zip(files, blobs)]
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        with tarfile.open(tmp, "w:gz", format=tarfile.PAX_FORMAT) as tar:
            for name, data, mode in members:
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(data), mode, int(moment.timestamp())
                tar.addfile(info, io.BytesIO(data))
        os.replace(tmp, out)
    except OSError as e:
        raise StorageError(f"cannot write bundle {out} ({e.strerror})", code="update.io") from None
    return manifest


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
def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write, fsync, rename, fsync the directory (crypto.keyring.write_private does the 0600 case,
    but importing it costs cryptography, which boot-check must not pay at every start)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _mkdir(path: Path) -> bool:
    """Create one directory readable by the service user whatever the umask; False if it existed."""
    try:
        path.mkdir(mode=0o755)
    except FileExistsError:
        return False
    os.chmod(path, 0o755)
    return True

