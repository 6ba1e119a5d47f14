"""The operators table: hashes never passwords, constant-time checks, refusals by code; the password type."""

from __future__ import annotations

import hmac
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto import passwords
from crypto.passwords import DEFAULT_SUPERVISOR_HASH, KdfCost, Password, hash_password, verify_password
from firmware.errors import CryptoError, StorageError
from storage.operators import OperatorBook
from storage.store import DB_FILE, Store

LOW = KdfCost(4, 8, 1)  # tests only: production is 14
NOW = datetime(2026, 11, 22, 9, 0, 0)
SECRET = "80462917"


@pytest.fixture
def book(tmp_path):
    store = Store.open(tmp_path)
    yield OperatorBook(store.conn, cost=LOW)
    store.close()


def test_a_fresh_terminal_has_only_the_supervisor_with_the_default_password(book):
    (supervisor,) = book.all()
    assert (supervisor.number, supervisor.active, supervisor.default_password) == ("00", True, True)
    assert book.verify("00", Password("123456")).ok


def test_the_stored_hash_is_salted_scrypt_never_the_password(book, tmp_path):
    book.add("01", Password(SECRET), NOW)
    book.add("02", Password(SECRET), NOW)
    one, two = book.get("01").password_hash, book.get("02").password_hash
    assert one.startswith("scrypt$4$8$1$") and one != two  # a salt each
    assert SECRET not in one
    book.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for path in tmp_path.iterdir():
        assert SECRET.encode() not in path.read_bytes(), path.name


def test_verify_right_wrong_unknown_inactive(book):
    book.add("01", Password(SECRET), NOW)
    assert book.verify("01", Password(SECRET)).code == "operator.ok"
    assert book.verify("01", Password("80462918")).code == "operator.wrong_password"
    assert book.verify("09", Password(SECRET)).code == "operator.unknown"
    book.set_active("01", False, NOW)
    assert book.verify("01", Password(SECRET)).code == "operator.inactive"


def test_the_comparison_is_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(passwords.hmac, "compare_digest", spy)
    stored = hash_password(Password("1234"), LOW)
    assert verify_password(Password("1234"), stored) and not verify_password(Password("1235"), stored)
    assert calls == [(32, 32), (32, 32)]


def test_a_hash_verifies_at_the_cost_it_was_made_with():
    stored = hash_password(Password("5555"), KdfCost(5, 4, 1))
    assert passwords.cost_of(stored) == KdfCost(5, 4, 1) and verify_password(Password("5555"), stored)
    assert verify_password(Password("123456"), DEFAULT_SUPERVISOR_HASH)  # production cost


def test_passwd_changes_the_hash_and_clears_the_default(book):
    book.passwd("00", Password(SECRET), NOW)
    supervisor = book.get("00")
    assert not supervisor.default_password
    assert book.verify("00", Password(SECRET)).ok and not book.verify("00", Password("123456")).ok


@pytest.mark.parametrize("do, code", [
    (lambda b: b.add("00", Password("1234"), NOW), "operator.is_supervisor"),
    (lambda b: b.remove("00"), "operator.is_supervisor"),
    (lambda b: b.set_active("00", False, NOW), "operator.is_supervisor"),
    (lambda b: b.add("1", Password("1234"), NOW), "operator.bad_number"),
    (lambda b: b.add("A1", Password("1234"), NOW), "operator.bad_number"),
    (lambda b: b.add("100", Password("1234"), NOW), "operator.bad_number"),
    (lambda b: b.passwd("05", Password("1234"), NOW), "operator.unknown"),
    (lambda b: b.remove("05"), "operator.unknown"),
    (lambda b: b.add("01", Password("123"), NOW), "operator.bad_password"),
    (lambda b: b.add("01", Password("1234567890123"), NOW), "operator.bad_password"),
    (lambda b: b.add("01", Password("12a4"), NOW), "operator.bad_password"),
], ids=["add 00", "remove 00", "deactivate 00", "short", "letter", "long", "passwd unknown", "remove unknown",
        "3 digits", "13 digits", "not digits"])
def test_refusals_carry_their_code(book, do, code):
    with pytest.raises((StorageError, CryptoError)) as err:
        do(book)
    assert err.value.code == code


def test_add_twice_and_remove(book):
    book.add("01", Password("1234"), NOW)
    with pytest.raises(StorageError) as err:
        book.add("01", Password("1234"), NOW)
    assert err.value.code == "operator.exists"
    book.remove("01")
    assert [o.number for o in book.all()] == ["00"]


def test_a_damaged_hash_is_an_error_not_a_match():
    for bad in ("", "plain", "scrypt$14$8$1$zz$00", "bcrypt$1$1$1$00$00", "scrypt$99$8$1$00$00"):
        with pytest.raises(CryptoError) as err:
            verify_password(Password("1234"), bad)
        assert err.value.code == "operator.bad_hash"


@given(st.text(alphabet="0123456789", min_size=0, max_size=20))
def test_the_password_type_never_shows_its_digits(digits):
    p = Password("")
    for d in digits:
        p.append(d)
    kept = digits[:12]
    assert p.reveal() == kept.encode()
    for text in (repr(p), str(p), f"{p}", p.masked()):
        assert (not kept) or kept not in text.replace("*", "")
    p.backspace()
    assert p.reveal() == kept[:-1].encode()
    p.wipe()
    assert p.wiped and "wiped" in repr(p)


def test_db_file_name_is_the_stores(tmp_path):
    Store.open(tmp_path).close()
    assert (tmp_path / DB_FILE).exists()
