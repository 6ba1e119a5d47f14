"""Rollbacks across a schema change: allowed, restored from the snapshot, or refused; by the
operator and by boot-check; power cuts during the restore; status. Real bundles, slots and
SQLite files in tmp_path; firmware A is this code as it is (schema ``LATEST``), firmware B
this code with a hypothetical migration ``NEXT`` (``LATEST + 1``) added (see
tests/storage/test_schema.py), so that the tests hold as real migrations are added."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware.cli import main
from firmware.core.model import Copy
from firmware.errors import TerminalError
from firmware.update import (
    BootCheck,
    Slot,
    SlotSchema,
    Step,
    Updater,
    build_bundle,
    generate_keypair,
    tree_schema,
)
from storage import migrations
from storage.store import DB_FILE, Store
from tests.forking import CUT, run_in_child
from tests.storage.test_schema import (
    ALL,
    B_ADDITIVE,
    B_NEW_MEANING,
    LATEST,
    NEXT,
    digest_of,
    firmware,
    sell,
    user_version,
)
from tests.test_update import make_tree, migrations_source

ROOT = Path(__file__).resolve().parents[2]
A_SCHEMA = tuple(m.readable_by for m in ALL)  # this firmware's table, as its bundle declares it
A_USABLE_FROM = ALL[-1].readable_by  # who can use the database this firmware leaves


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """Bundles: A 1.0 (this firmware), B 2.0 (NEXT, usable from NEXT only), B' 2.1 (NEXT, usable as A's database
    is), and legacy A 0.9: this firmware's LATEST as firmware from before the usable-by records declared it."""
    base = tmp_path_factory.mktemp("schema-kit")
    generate_keypair(base / "vendor.pem", base / "vendor.pub.pem")
    trust = base / "update-keys.pem"
    trust.write_bytes((base / "vendor.pub.pem").read_bytes())
    out = {"trust": trust}
    for version, schema in (("0.9", LATEST), ("1.0", A_SCHEMA), ("2.0", A_SCHEMA + (NEXT,)),
                            ("2.1", A_SCHEMA + (A_USABLE_FROM,))):
        out[version] = base / f"posterm-{version}.tar.gz"
        build_bundle(make_tree(base / f"src-{version}", version, schema), version, base / "vendor.pem", out[version])
    return out


class Terminal:
    """A terminal root and its data directory; ``run(b)`` starts firmware B on the database."""

    def __init__(self, kit, tmp_path, monkeypatch, *, a: str = "1.0", b: str = "2.0"):
        self.kit, self.monkeypatch = kit, monkeypatch
        self.data = tmp_path / "data"
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.config = tmp_path / "posterm.toml"
        self.config.write_text(f'[storage]\ndata_dir = "{self.data}"\n')
        self.updater = Updater(tmp_path / "opt", data_dir=self.data)
        self.updater.apply(kit[a], kit["trust"])  # A, confirmed
        store = Store.open(self.data)  # A's database, with two sales
        sell(store, 1)
        sell(store, 2)
        store.close()
        self.a_digest = digest_of(self.db)  # A's database, at LATEST
        self.b_migration = B_ADDITIVE if b == "2.1" else B_NEW_MEANING
        self.updater.apply(kit[b], kit["trust"], allow_downgrade=True)  # B, pending

    @property
    def db(self) -> Path:
        return self.data / DB_FILE

    def start_b(self, then=None) -> None:
        """Firmware B starts: it migrates LATEST -> NEXT (snapshot first), then does ``then(store)``."""
        with firmware(self.monkeypatch, None, self.b_migration):
            store = Store.open(self.data)
            if then is not None:
                then(store)
            store.close()

    def a_opens(self) -> bool:
        try:
            Store.open(self.data).close()
        except TerminalError as e:
            assert e.code == "storage.schema_newer"
            return False
        return True

    def running(self) -> tuple[str | None, str | None]:
        status = self.updater.status()
        return status["current"], status["pending"]


@pytest.fixture
def terminal(kit, tmp_path, monkeypatch):
    return Terminal(kit, tmp_path, monkeypatch)


# -- the bundle and the slot say which schema their firmware has -----------------------------------------
def test_this_tree_reads_back_as_its_own_schema():
    assert tree_schema(ROOT) == SlotSchema(migrations.LATEST, migrations.MIGRATIONS[-1].readable_by, True)


def test_bundles_and_markers_record_the_firmware_schema(kit, terminal, tmp_path):
    status = terminal.updater.status()
    assert status["slots"]["a"]["schema"] == {"latest": LATEST, "readable_by": A_USABLE_FROM, "reads_record": True}
    assert status["slots"]["b"]["schema"] == {"latest": NEXT, "readable_by": NEXT, "reads_record": True}
    tree = make_tree(tmp_path / "odd", "1.0")
    (tree / "storage" / "migrations.py").write_text("MIGRATIONS = build_them()\n")
    with pytest.raises(TerminalError) as err:
        build_bundle(tree, "1.0", kit["trust"].with_name("vendor.pem"), tmp_path / "odd.tar.gz")
    assert err.value.code == "update.bad_source" and "MIGRATIONS" in err.value.text


# -- the operator's rollback ------------------------------------------------------------------------------
def test_rollback_goes_ahead_when_the_older_firmware_can_use_the_database(kit, tmp_path, monkeypatch):
    t = Terminal(kit, tmp_path, monkeypatch, b="2.1")  # B' adds a column A's code ignores
    t.start_b(lambda store: sell(store, 3))  # and takes a sale
    assert t.updater.rollback() is Slot.A and t.running() == ("a", None)
    assert user_version(t.db) == NEXT and t.a_opens()  # nothing restored, nothing lost
    assert t.updater.status()["last_rollback"]["schema"] == "usable"


def test_rollback_restores_the_snapshot_when_nothing_happened_since_the_migration(terminal):
    terminal.start_b()
    assert not terminal.a_opens()  # the trap: A refuses B's schema
    assert terminal.updater.rollback() is Slot.A and terminal.running() == ("a", None)
    assert user_version(terminal.db) == LATEST and digest_of(terminal.db) == terminal.a_digest
    assert terminal.a_opens()
    assert terminal.updater.status()["last_rollback"]["schema"] == "restore"


# what B did after migrating -> words the refusal must contain
AFTER_MIGRATION = {
    "took a sale": (lambda store: sell(store, 3), "changed since its migration, so restoring its snapshot would lose records"),
    "printed a receipt": (lambda store: store.mark_printed(2, Copy.MERCHANT), "changed since its migration"),
    "lost its snapshot": (lambda store: (store.path.parent / "posterm.db.snapshot").unlink(),
                          "snapshot posterm.db.snapshot is missing"),
}


@pytest.mark.parametrize("case", AFTER_MIGRATION)
def test_rollback_is_refused_when_it_would_lose_records_or_strand_the_terminal(terminal, case):
    then, words = AFTER_MIGRATION[case]
    terminal.start_b(then)
    before = digest_of(terminal.db)
    with pytest.raises(TerminalError) as err:
        terminal.updater.rollback()
    assert err.value.code == "update.schema_blocks_rollback"
    assert words in err.value.text
    assert f"slot a (posterm 1.0) reads database schemas up to v{LATEST}," in err.value.text
    assert f"but the database is v{NEXT} (usable from v{NEXT}) and" in err.value.text
    assert f"schema v{NEXT} or newer" in err.value.text
    assert terminal.running() == ("b", "b") and digest_of(terminal.db) == before  # nothing touched


def test_a_restore_waits_for_posterm_to_stop(terminal, monkeypatch):
    terminal.start_b()
    with firmware(monkeypatch, None, B_NEW_MEANING):
        store = Store.open(terminal.data)  # B is running
        with pytest.raises(TerminalError) as err:
            terminal.updater.rollback()
        store.close()
    assert err.value.code == "storage.in_use" and terminal.running() == ("b", "b")
    assert terminal.updater.rollback() is Slot.A and user_version(terminal.db) == LATEST


def test_a_slot_from_before_the_records_opens_no_newer_database(kit, tmp_path, monkeypatch):
    t = Terminal(kit, tmp_path, monkeypatch, a="0.9", b="2.1")  # A predates the records; B' is additive
    marker = t.updater.slot_dir(Slot.A) / ".posterm-slot.json"
    info = json.loads(marker.read_text())
    del info["schema"]  # as a legacy updater wrote it: the schema is read from the slot's tree
    marker.write_text(json.dumps(info))
    assert t.updater.slot_schema(Slot.A) == SlotSchema(LATEST, A_USABLE_FROM, reads_record=False)
    t.start_b(lambda store: sell(store, 3))
    with pytest.raises(TerminalError) as err:  # the record says A's schema may, but this A would not even look
        t.updater.rollback()
    assert err.value.code == "update.schema_blocks_rollback" and "opens no newer one" in err.value.text


# -- boot-check ----------------------------------------------------------------------------------------------
def test_boot_check_restores_and_rolls_back_an_unconfirmed_firmware(terminal):
    terminal.start_b()
    assert [terminal.updater.boot_check(2) for _ in range(3)] == [BootCheck.COUNTED] * 2 + [BootCheck.ROLLED_BACK]
    assert terminal.running() == ("a", None) and user_version(terminal.db) == LATEST and terminal.a_opens()


def test_boot_check_keeps_the_new_firmware_and_alerts_when_the_schema_blocks(terminal):
    terminal.start_b(lambda store: sell(store, 3))
    assert [terminal.updater.boot_check(1) for _ in range(2)] == [BootCheck.COUNTED, BootCheck.SCHEMA_BLOCKED]
    assert terminal.running() == ("b", None)  # B keeps running with its sale
    status = terminal.updater.status()
    assert status["alert"]["code"] == "update.schema_blocks_rollback" and "changed since" in status["alert"]["text"]
    assert status["history"][-1]["event"] == "schema_blocked" and status["good"] == "a"
    assert terminal.updater.boot_check(1) is BootCheck.NOTHING_PENDING  # no more counting
    assert user_version(terminal.db) == NEXT and not terminal.a_opens()  # which is why B was kept


def test_boot_check_blocks_when_it_cannot_find_the_database(terminal, tmp_path):
    terminal.start_b()
    updater = Updater(terminal.updater.root, data_dir=lambda: (_ for _ in ()).throw(
        TerminalError("configuration file /nowhere does not exist", code="config.missing")))
    assert updater.boot_check(1) is BootCheck.COUNTED
    assert updater.boot_check(1) is BootCheck.SCHEMA_BLOCKED
    assert "config.missing" in updater.status()["alert"]["text"] and terminal.running() == ("b", None)


# -- power cuts during a restoring rollback --------------------------------------------------------------
def test_a_power_cut_at_every_step_of_a_restoring_rollback_never_strands_the_terminal(kit, tmp_path, monkeypatch):
    monkeypatch.setattr("storage.db.RESTORE_PAGES", 2)  # several restore steps on a small database
    probe = Terminal(kit, tmp_path / "probe", monkeypatch)
    probe.start_b()
    steps: list[Step] = []
    Updater(probe.updater.root, hook=steps.append, data_dir=probe.data).rollback()
    assert steps.count(Step.RESTORING) >= 2 and steps.index(Step.RESTORED) < steps.index(Step.RECORDED)
    for die_at in range(1, len(steps) + 1):
        t = Terminal(kit, tmp_path / f"cut-{die_at}", monkeypatch)
        t.start_b()
        b_digest = digest_of(t.db)
        work = lambda hook, t=t: Updater(t.updater.root, hook=hook, data_dir=t.data).rollback()
        assert run_in_child(work, die_at) == CUT, die_at
        current = t.updater.link("current")  # what systemd would start now
        version, digest = user_version(t.db), digest_of(t.db)
        assert (version, digest) in ((NEXT, b_digest), (LATEST, t.a_digest)), (die_at, steps[die_at - 1])  # whole
        if current is Slot.A:
            assert version == LATEST, (die_at, steps[die_at - 1])  # A is never current on a database it refuses
        t.updater.boot_check(max_attempts=9)  # the next start: finishes an interrupted switch
        if t.running() == ("b", "b"):
            t.updater.rollback()  # the engineer tries again
        assert t.running() == ("a", None) and user_version(t.db) == LATEST and digest_of(t.db) == t.a_digest, die_at


# -- status and the command line ---------------------------------------------------------------------------
def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["update", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    return code, out, err


def test_status_shows_the_database_schema_and_each_slot_range(terminal, capsys):
    terminal.start_b()
    root, config = terminal.updater.root, terminal.config
    code, out, _ = run_cli(capsys, "status", "--root", root, "--config", config)
    assert code == 0
    assert (f"database {terminal.db}  schema v{NEXT}, usable by firmware of schema v{NEXT} or newer; snapshot of "
            f"v{LATEST} from before its migration, nothing changed since") in out
    assert f"         schema v{LATEST} (its databases usable from v{A_USABLE_FROM}); CANNOT use the database" in out
    assert f"         schema v{NEXT} (its databases usable from v{NEXT}); can use the database" in out
    status = json.loads(run_cli(capsys, "status", "--root", root, "--config", config, "--json")[1])
    assert {k: status["database"][k] for k in ("version", "usable_by", "recorded")} == {
        "version": NEXT, "usable_by": NEXT, "recorded": True}
    assert status["database"]["snapshot"]["unchanged_since"] is True
    assert [status["slots"][s]["opens_database"] for s in "ab"] == [False, True]
    code, out, _ = run_cli(capsys, "status", "--root", root, "--config", config.with_name("missing.toml"))
    assert code == 0 and "database -: unknown: configuration file" in out and "[config.missing]" in out


def test_cli_rollback_finds_the_database_through_the_config(terminal, capsys):
    terminal.start_b(lambda store: sell(store, 3))
    root = terminal.updater.root
    code, out, err = run_cli(capsys, "rollback", "--root", root, "--config", terminal.config)
    assert code == 2 and out == "" and err.startswith("posterm: error [update.schema_blocks_rollback]: slot a")
    code, out, _ = run_cli(capsys, "boot-check", "--root", root, "--config", terminal.config, "--max-attempts", "1")
    assert code == 0 and "pending: start 1 of 1" in out
    code, out, _ = run_cli(capsys, "boot-check", "--root", root, "--config", terminal.config, "--max-attempts", "1")
    assert code == 0 and out.startswith("ALERT [update.schema_blocks_rollback]: slot b was never confirmed but is kept")
    assert "ALERT" in run_cli(capsys, "status", "--root", root, "--config", terminal.config)[1]


def test_cli_rollback_restores_and_says_so(terminal, capsys):
    terminal.start_b()
    code, out, _ = run_cli(capsys, "rollback", "--root", terminal.updater.root, "--config", terminal.config)
    assert code == 0 and "the database was restored from before its migration" in out
    assert user_version(terminal.db) == LATEST


def test_the_unit_checks_the_database_of_the_config_posterm_runs_with():
    unit = (ROOT / "deploy" / "posterm.service").read_text().splitlines()

    def config_of(prefix: str) -> str:
        line = next(x for x in unit if x.startswith(prefix))
        words = line.split()
        return words[words.index("--config") + 1]

    assert config_of("ExecStartPre=") == config_of("ExecStart=") == "/etc/posterm/posterm.toml"


# -- parsers ----------------------------------------------------------------------------------------------------
@given(st.lists(st.integers(0, 3), min_size=1, max_size=12))
def test_a_slot_schema_reads_back_from_any_honest_table(steps):
    """readable_by grows by the given steps without passing the version: the tree says exactly that."""
    table, floor = [], 1
    for version, step in enumerate(steps, 1):
        floor = min(version, floor + step)
        table.append(floor)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "storage").mkdir()
        (Path(tmp) / "storage" / "migrations.py").write_text(migrations_source(tuple(table)))
        assert tree_schema(Path(tmp)) == SlotSchema(len(table), table[-1], True)
        (Path(tmp) / "storage" / "migrations.py").write_text(migrations_source(len(table)))
        assert tree_schema(Path(tmp)).reads_record is False


@given(st.one_of(st.none(), st.integers(), st.text(max_size=20), st.dictionaries(
    st.sampled_from(["latest", "readable_by", "reads_record", "x"]),
    st.one_of(st.none(), st.booleans(), st.integers(-2, 9), st.text(max_size=3)), max_size=4)))
def test_a_random_schema_entry_is_checked_not_trusted(doc):
    schema = SlotSchema.from_dict(doc)
    if schema is not None:
        assert 1 <= schema.latest and isinstance(schema.reads_record, bool)
        assert schema.readable_by is None or 1 <= schema.readable_by <= schema.latest
        assert SlotSchema.from_dict(schema.to_dict()) == schema
