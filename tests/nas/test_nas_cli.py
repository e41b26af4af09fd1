"""tfc-nas's command line: config printing, help, fast failures before --out exists, the resumed
run's own config, Ctrl-C, and logging that leaves other libraries alone."""
import json
import logging

import pytest

from nas import cli
from nas.config import RunConfig, load_config


def test_config_command_prints_the_default_config(tmp_path, capsys):
    assert cli.main(["config"]) == 0
    text = capsys.readouterr().out
    (tmp_path / "c.json").write_text(text)
    assert load_config(tmp_path / "c.json") == RunConfig()


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--data fashion-mnist" in out and "torchrun --nproc_per_node 2 -m nas run" in out


@pytest.mark.parametrize("flags,message", [
    (["--data", "mnist"], "unknown data set 'mnist'"),
    (["--data", "folder:/nonexistent/pics"], "no such file or folder"),
    (["--target", "cortex-m99"], "unknown target 'cortex-m99'"),
    (["--flash", "20KiB"], "reserved for code"),
    (["--sram", "4KiB"], "reserved for the stack"),
    (["--device", "tpu"], "unknown device 'tpu'"),
])
def test_bad_input_fails_before_the_run_directory_exists(tmp_path, capsys, flags, message):
    out = tmp_path / "run"
    assert cli.main(["run", "--out", str(out), "--quiet", *flags]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_config_values_are_type_checked(tmp_path, capsys):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"lr": "fast"}))
    assert cli.main(["run", "--config", str(p), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert "lr must be a number, got 'fast'" in capsys.readouterr().err
    p.write_text(json.dumps({"resolutions": [16, "32"]}))
    assert cli.main(["run", "--config", str(p), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert "resolutions must be a list of integers" in capsys.readouterr().err
    p.write_text(json.dumps({"epochs": True}))
    assert cli.main(["run", "--config", str(p), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert "epochs must be an integer or null, got True" in capsys.readouterr().err


def test_resume_reads_the_runs_own_config(tmp_path, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr("nas.pipeline.run_pipeline", lambda cfg, out, **kw: seen.append((cfg, kw["resume"])))
    out = tmp_path / "run"
    out.mkdir()
    stored = RunConfig(epochs=3, data="digits", flash_bytes=65536)
    (out / "config.json").write_text(json.dumps(stored.to_dict()))
    assert cli.main(["run", "--out", str(out), "--resume", "--quiet"]) == 0
    assert seen[-1] == (stored, True)
    # flags given again are applied on top (and RunDir refuses them when they differ from the run's)
    assert cli.main(["run", "--out", str(out), "--resume", "--quiet", "--seed", "4"]) == 0
    assert seen[-1][0].seed == 4 and seen[-1][0].epochs == 3
    capsys.readouterr()
    assert cli.main(["run", "--out", str(tmp_path / "none"), "--resume", "--quiet"]) == 2
    assert "holds no run to resume" in capsys.readouterr().err


def test_ctrl_c_prints_one_line_on_how_to_resume(tmp_path, monkeypatch, capsys):
    def interrupted(*a, **kw):
        raise KeyboardInterrupt
    monkeypatch.setattr("nas.pipeline.run_pipeline", interrupted)
    assert cli.main(["run", "--out", str(tmp_path / "r"), "--quiet"]) == cli.EXIT_INTERRUPTED
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tfc-nas: interrupted; continue with: tfc-nas run --out {tmp_path / 'r'} --resume"]


def test_only_the_nas_logger_is_configured():
    root = logging.getLogger()
    before = (list(root.handlers), root.level, logging.getLogger("tfc").level)
    cli.configure_logging(quiet=False)
    cli.configure_logging(quiet=False)
    assert (list(root.handlers), root.level, logging.getLogger("tfc").level) == before
    nas_log = logging.getLogger("nas")
    assert len(nas_log.handlers) == 1 and not nas_log.propagate and nas_log.level == logging.INFO
