"""A bug inside ``posterm run`` (an exception that is not a TerminalError): the run ends with exit 3 and
systemd starts it again (recovery is a power cut's). Until then the display says OUT OF SERVICE instead of
freezing on its last prompt, the operator's console gets one line naming the exception and where, and the
log says the same at error level (the traceback only at debug). The bug is injected by making the loop
raise: that is what this test is about."""

from __future__ import annotations

import firmware.app as app
from crypto.provision import provision
from firmware.cli import EXIT_INTERNAL, main
from firmware.runner import Runner


def test_a_bug_in_the_loop_says_out_of_service_and_names_itself_without_a_traceback(tmp_path, monkeypatch, capsys, root_logging):
    data = tmp_path / "data"
    provision(data, lab=True)
    config = tmp_path / "posterm.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n[log]\nlevel = "info"\n')
    made = []
    build = app.build_runner

    def keep(*args, **kwargs):
        made.append(build(*args, **kwargs))
        return made[-1]

    def bug(self, **_):
        raise RuntimeError("a bug")

    monkeypatch.setattr(app, "build_runner", keep)
    monkeypatch.setattr(Runner, "run_forever", bug)
    assert main(["run", "--config", str(config)]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "posterm: internal error (RuntimeError at test_run_internal_error.py:" in err, err
    assert "internal error: RuntimeError at test_run_internal_error.py:" in err  # the log line, at error level
    assert "Traceback" not in err and "a bug" not in err
    (runner,) = made
    assert [line.strip() for line in runner.devices.display.lines[:2]] == ["OUT OF SERVICE", "RESTARTING"]
    assert runner.devices.display.final  # a display that blanks on closing keeps it (tests/hal/display)
