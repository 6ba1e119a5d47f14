"""The provisioning manifest: every bad input refused with its code, before anything changes."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.keys import kcv
from crypto.passwords import KdfCost, Password, hash_password
from crypto.secrets import SecretKey
from crypto.tr31 import Tr31Header, unwrap
from firmware.config import parse_config
from firmware.errors import ConfigError, TerminalError
from firmware.manifest import TEMPLATE, Manifest, load_manifest, parse_manifest, render_config
from firmware.provisioning import Request, provision_from_manifest
from tests.firmware.provision_helpers import (KBPK, KBPK_HEX, LAB_TMK, OTHER_TMK, block, manifest_doc,
                                              manifest_text, supervisor_hash, write_manifest)

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _drop(doc, section, key=None):
    if key is None:
        del doc[section]
    else:
        del doc[section][key]
    return doc


def _set(doc, section, key, value):
    doc.setdefault(section, {})[key] = value
    return doc


def _cheap_hash():
    with Password(b"97531864") as p:
        return hash_password(p, KdfCost(10))


def _default_hash():
    with Password(b"123456") as p:
        return hash_password(p)


BAD_DOCS = [
    # (what, change to a good manifest, code, words the message must hold)
    ("unknown config key", lambda d: _set(d, "devices", "printr", "sim://"), "config.unknown_key", "devices.printr"),
    ("unknown section", lambda d: _set(d, "printers", "a", "sim://"), "config.unknown_key", "[printers]"),
    ("bad terminal ID", lambda d: _set(d, "terminal", "terminal_id", "1000001"), "config.bad_value",
     "terminal.terminal_id"),
    ("bad merchant ID", lambda d: _set(d, "terminal", "merchant_id", "8981"), "config.bad_value",
     "terminal.merchant_id"),
    ("missing terminal ID", lambda d: _drop(d, "terminal", "terminal_id"), "manifest.missing_identity",
     "terminal.terminal_id"),
    ("missing merchant name", lambda d: _drop(d, "terminal", "merchant_name"), "manifest.missing_identity",
     "terminal.merchant_name"),
    ("a section not a table", lambda d: d.update(devices="sim://") or d, "config.bad_value", "[devices]"),
    ("bad config value", lambda d: _set(d, "offline", "floor_limit", 1.5), "config.bad_value", "offline.floor_limit"),
    ("unknown device scheme", lambda d: _set(d, "devices", "printer", "usb://"), "config.unknown_scheme", "usb://"),
    ("unknown device option", lambda d: _set(d, "devices", "printer", "sim://?colums=48"), "config.unknown_option",
     "colums"),
    ("no [manifest]", lambda d: _drop(d, "manifest"), "manifest.format", "[manifest]"),
    ("wrong format", lambda d: _set(d, "manifest", "format", 2), "manifest.format", "manifest.format"),
    ("unknown manifest key", lambda d: _set(d, "manifest", "estate", "x"), "manifest.unknown_key", "manifest.estate"),
    ("missing TR-31 table", lambda d: _drop(d, "master_key"), "manifest.missing_tr31", "[master_key]"),
    ("missing TR-31", lambda d: _drop(d, "master_key", "tr31"), "manifest.missing_tr31", "master_key.tr31"),
    ("empty TR-31", lambda d: _set(d, "master_key", "tr31", ""), "manifest.missing_tr31", "master_key.tr31"),
    ("TR-31 not text", lambda d: _set(d, "master_key", "tr31", 12), "manifest.bad_value", "master_key.tr31"),
    ("TR-31 garbage", lambda d: _set(d, "master_key", "tr31", "not a key block"), "tr31.format", "key block"),
    ("a clear key", lambda d: _set(d, "master_key", "key", LAB_TMK.hex()), "manifest.unknown_key", "clear key"),
    ("missing KCV", lambda d: _drop(d, "master_key", "kcv"), "manifest.missing_kcv", "master_key.kcv"),
    ("bad KCV", lambda d: _set(d, "master_key", "kcv", "08D7BZ"), "manifest.bad_kcv", "hex"),
    ("missing supervisor", lambda d: _drop(d, "supervisor"), "manifest.missing_supervisor", "[supervisor]"),
    ("a clear password", lambda d: _set(d, "supervisor", "password", "24681357"), "manifest.unknown_key",
     "clear password"),
    ("bad hash", lambda d: _set(d, "supervisor", "password_hash", "24681357"), "manifest.bad_hash", "scrypt"),
    ("cheap hash", lambda d: _set(d, "supervisor", "password_hash", _cheap_hash()), "manifest.weak_hash",
     "production cost"),
    ("default password", lambda d: _set(d, "supervisor", "password_hash", _default_hash()),
     "manifest.default_password", "default password"),
    ("another data directory", lambda d: _set(d, "storage", "data_dir", "/var/lib/elsewhere"),
     "manifest.data_dir_mismatch", "--data-dir"),
]


@pytest.mark.parametrize("what, change, code, words", BAD_DOCS, ids=[c[0] for c in BAD_DOCS])
def test_a_bad_manifest_is_refused_with_its_code(tmp_path, what, change, code, words):
    doc = change(copy.deepcopy(manifest_doc()))
    with pytest.raises(TerminalError) as e:
        parse_manifest(doc, source="m.toml", data_dir=tmp_path / "data")
    assert e.value.code == code
    assert words in e.value.text
    assert supervisor_hash() not in e.value.text and block()[20:] not in e.value.text


def test_a_bad_config_key_is_named_as_config_check_names_it(tmp_path):
    doc = _set(manifest_doc(), "devices", "printr", "sim://")
    with pytest.raises(ConfigError) as from_manifest:
        parse_manifest(doc, source="m.toml", data_dir=tmp_path)
    with pytest.raises(ConfigError) as from_config:
        parse_config({"devices": {"printr": "sim://"}}, source="m.toml")
    assert from_manifest.value.code == from_config.value.code
    assert from_manifest.value.text == from_config.value.text.replace("in m.toml", "in manifest m.toml")


@pytest.mark.parametrize("content, code", [
    (None, "manifest.missing"),
    ("dir", "manifest.unreadable"),
    (b"[manifest\nformat = 1\n", "manifest.syntax"),
    (b"[manifest]\nformat = 1\nname = \"\xff\"\n", "manifest.syntax"),
], ids=["missing", "a directory", "bad TOML", "not UTF-8"])
def test_an_unreadable_manifest_file(tmp_path, content, code):
    path = tmp_path / "m.toml"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as e:
        load_manifest(path, data_dir=tmp_path / "data")
    assert e.value.code == code


def test_a_good_manifest_gives_the_config_and_keeps_its_secrets_out_of_it(tmp_path):
    path = write_manifest(tmp_path / "m.toml", manifest_doc(extra={"devices": {"printer": "sim://?columns=42"}}))
    m = load_manifest(path, data_dir=tmp_path / "data")
    assert (m.terminal_id, m.merchant_id, m.kcv) == ("10000001", "898100012340001", kcv(LAB_TMK))
    assert m.config.devices.printer == "sim://?columns=42"
    assert m.config.storage.data_dir == str(tmp_path / "data")
    text = render_config(m)
    assert tomllib.loads(text)["terminal"]["terminal_id"] == "10000001"
    for secret in (m.tr31, m.supervisor_hash, m.tr31[16:40], m.supervisor_hash.split("$")[-1]):
        assert secret not in text and secret not in repr(m)
    assert "[master_key]" not in text and "[supervisor]" not in text


@settings(max_examples=60, deadline=None)
@given(name=st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=40)
       .filter(str.isprintable),
       log_file=st.text(st.characters(blacklist_categories=("Cs",)), max_size=30),
       copies=st.sampled_from([[], ["merchant"], ["cardholder", "merchant"]]),
       floor=st.integers(0, 10**12), timeout=st.floats(0.05, 300, allow_nan=False))
def test_the_written_config_reads_back_as_the_manifest_says(tmp_path_factory, name, log_file, copies, floor, timeout):
    doc = manifest_doc(extra={"terminal": {"merchant_name": name}, "log": {"file": log_file},
                              "receipts": {"copies": copies}, "offline": {"floor_limit": floor},
                              "host": {"response_timeout": timeout},
                              "devices": {"printer": "sim://?cjk=gb18030"}})  # prints any name, Chinese too
    settings = {k: v for k, v in doc.items() if k not in ("manifest", "master_key", "supervisor")}
    settings["storage"] = {"data_dir": "/var/lib/posterm"}
    m = Manifest("m", parse_config(settings), settings, "", "", "")  # parse_manifest is tested above
    back = parse_config(tomllib.loads(render_config(m)))  # render_config checks this itself too
    assert back == m.config and back.terminal.merchant_name == name and back.log.file == log_file


def test_the_template_is_a_manifest_once_its_placeholders_are_filled(tmp_path):
    filled = (TEMPLATE.replace("TERMINAL_ID", "10000001").replace("MERCHANT_ID", "898100012340001")
              .replace("MERCHANT NAME", "MY SHOP").replace("TR31_BLOCK", block()).replace("KCV\"", kcv(LAB_TMK) + "\"")
              .replace("SCRYPT_HASH", supervisor_hash()))
    m = parse_manifest(tomllib.loads(filled), source="template", data_dir=tmp_path)
    assert m.terminal_id == "10000001"
    with pytest.raises(TerminalError):  # as printed, it is not one: nobody provisions placeholders
        parse_manifest(tomllib.loads(TEMPLATE), source="template", data_dir=tmp_path)


def test_the_readme_example_opens_under_the_lab_kbpk_to_its_kcv(tmp_path):
    section = README[README.index("### Provisioning an estate"):]
    example = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    m = parse_manifest(tomllib.loads(example), source="README", data_dir="/var/lib/posterm")
    assert KBPK_HEX in section
    opened = unwrap(SecretKey(KBPK, "kbpk"), m.tr31)
    assert kcv(opened.key).startswith(m.kcv) and opened.header == Tr31Header("B", "K0", "T", "B", blocks=())


# -- refused before anything changes: exit code 2 ---------------------------------------------------
def _other_block(tmp):
    return manifest_doc(extra={"master_key": {"tr31": block(OTHER_TMK)}})


NOTHING_CHANGED = [
    ("KCV mismatch", lambda t: _other_block(t), {}, "provision.kcv_mismatch"),
    ("wrong KBPK", lambda t: manifest_doc(), {"kbpk": bytes(16)}, "tr31.mac"),
    ("no KBPK", lambda t: manifest_doc(), {"kbpk": None}, "keys.no_kbpk"),
    ("a PIN key, not a master key", lambda t: _set(manifest_doc(), "master_key", "tr31",
                                                   block(header=Tr31Header("B", "P0", "T", "E"))), {}, "tr31.usage"),
    ("config directory missing", lambda t: manifest_doc(), {"config_out": "nowhere/posterm.toml"},
     "provision.config_out"),
    ("config path is a directory", lambda t: manifest_doc(), {"config_out": "."}, "provision.config_out"),
    ("config path is the manifest", lambda t: manifest_doc(), {"config_out": "m.toml"}, "provision.config_out"),
    ("config path under a file", lambda t: manifest_doc(), {"config_out": "m.toml/posterm.toml"},
     "provision.config_out"),
    ("TR-31 truncated", lambda t: _set(manifest_doc(), "master_key", "tr31", block()[:-4]), {}, "tr31.format"),
    ("bad manifest", lambda t: _drop(manifest_doc(), "master_key", "kcv"), {}, "manifest.missing_kcv"),
]


@pytest.mark.parametrize("what, doc, args, code", NOTHING_CHANGED, ids=[c[0] for c in NOTHING_CHANGED])
def test_refused_before_any_change(tmp_path, what, doc, args, code):
    path = write_manifest(tmp_path / "m.toml", doc(tmp_path))
    kbpk = args.get("kbpk", KBPK)
    request = Request(path, tmp_path / "data", tmp_path / args.get("config_out", "posterm.toml"),
                      kbpk=SecretKey(kbpk, "kbpk") if kbpk is not None else None)
    before = sorted(p.name for p in tmp_path.iterdir())
    report = provision_from_manifest(request)
    assert (report.exit_code, report.error.code) == (2, code)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no data directory, no config
    assert report.steps == [] and report.as_dict()["error"]["code"] == code


def test_a_data_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "data").write_text("")
    path = write_manifest(tmp_path / "m.toml")
    report = provision_from_manifest(Request(path, tmp_path / "data", tmp_path / "posterm.toml",
                                             kbpk=SecretKey(KBPK, "kbpk")))
    assert (report.exit_code, report.error.code) == (2, "provision.data_dir")


def test_manifest_text_helper_round_trips():
    doc = manifest_doc()
    assert tomllib.loads(manifest_text(doc)) == doc
