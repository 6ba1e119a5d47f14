"""Manifests for the provisioning tests: real TR-31 blocks, real scrypt hashes, test keys only."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crypto.keys import KeyUsage, kcv
from crypto.passwords import Password, hash_password
from crypto.provision import LAB_KEYS
from crypto.tr31 import Tr31Header, wrap

KBPK_HEX = "89E88CF7931444F334BD7547FC3F380C"  # the published TR-31 sample KBPK
KBPK = bytes.fromhex(KBPK_HEX)
LAB_TMK = bytes.fromhex(LAB_KEYS[KeyUsage.TMK])  # the built-in host simulator's, so a sign-on works
OTHER_TMK = bytes.fromhex("0F1E2D3C4B5A69788796A5B4C3D2E1F0")
PASSWORD = "24681357"  # the supervisor's, hashed into every manifest


@functools.cache
def supervisor_hash(password: str = PASSWORD) -> str:
    with Password(password.encode()) as p:
        return hash_password(p)


def block(key: bytes = LAB_TMK, header: Tr31Header = Tr31Header("B", "K0", "T", "B")) -> str:
    return wrap(KBPK, header, key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def manifest_doc(*, tid: str = "10000001", mid: str = "898100012340001", key: bytes = LAB_TMK,
                 extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    doc: dict[str, dict[str, Any]] = {
        "manifest": {"format": 1},
        "terminal": {"terminal_id": tid, "merchant_id": mid, "merchant_name": "PROVISIONED SHOP"},
        "master_key": {"tr31": block(key), "kcv": kcv(key)},
        "supervisor": {"password_hash": supervisor_hash()},
        "host": {"response_timeout": 2.0, "connect_timeout": 2.0},
    }
    for section, values in (extra or {}).items():
        doc.setdefault(section, {}).update(values)
    return doc


def manifest_text(doc: Mapping[str, Mapping[str, Any]]) -> str:
    out = []
    for section, values in doc.items():
        out.append(f"[{section}]")
        out += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    return "\n".join(out) + "\n"


def write_manifest(path: Path, doc: Mapping[str, Mapping[str, Any]] | None = None, **kw) -> Path:
    path.write_text(manifest_text(doc if doc is not None else manifest_doc(**kw)))
    return path
