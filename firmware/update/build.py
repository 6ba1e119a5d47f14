"""Building and signing update bundles: the vendor's side (or CI's); a terminal never needs it.

Kept apart from ``firmware.update.bundle`` (the bundle's format, the trusted keys, and
checking a bundle, which every terminal does before it applies one) because this side
holds the signing key and walks a source tree, while ``bundle`` is imported by ``update
boot-check`` at every start. The layout a build writes is the one ``bundle`` documents.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from firmware.errors import ConfigError, StorageError
from firmware.files import write_atomic
from firmware.update.bundle import (
    FILES_PREFIX,
    FORMAT,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    FileEntry,
    Manifest,
    _check_version,
    _iso,
    _utcnow,
    key_id,
)
from firmware.update.schema import tree_schema

__all__ = ["build_bundle", "generate_keypair", "sign_manifest"]

# Not part of a build: what .gitignore keeps out of the repository (hidden names are skipped too).
_SKIP_NAMES = frozenset({"__pycache__", "build", "dist", "run"})
_SKIP_SUFFIXES = (".pyc", ".pyo", ".egg-info", ".db", ".db-wal", ".db-shm")


def sign_manifest(private_key, raw: bytes) -> bytes:
    import base64

    doc = {"format": FORMAT, "algorithm": "ed25519", "key_id": key_id(private_key.public_key()),
           "signature": base64.b64encode(private_key.sign(raw)).decode()}
    return (json.dumps(doc, sort_keys=True) + "\n").encode()


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
        write_atomic(public_path, key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
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
