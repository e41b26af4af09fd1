"""Run directory: resume with the same config, refuse a different one, never overwrite."""
import pytest

from nas.checkpoint import RunDir
from nas.config import RunConfig, load_config, parse_bytes
from nas.errors import ConfigError, ResumeError


def test_resume_same_config_and_refuse_different(tmp_path):
    cfg = RunConfig(epochs=3)
    run = RunDir(tmp_path / "r", cfg, resume=False)
    run.write_json("a.json", {"x": 1})
    again = RunDir(tmp_path / "r", cfg, resume=True)
    assert again.read_json("a.json") == {"x": 1}
    with pytest.raises(ResumeError, match=r"epochs: run has 3, now 4"):
        RunDir(tmp_path / "r", RunConfig(epochs=4), resume=True)
    with pytest.raises(ResumeError, match="already holds a run"):
        RunDir(tmp_path / "r", cfg, resume=False)
    assert (tmp_path / "r" / "a.json").read_text().strip().endswith("}")


def test_checkpoints_are_never_overwritten(tmp_path):
    run = RunDir(tmp_path / "r", RunConfig(), resume=False)
    run.write_json("a.json", {"x": 1})
    with pytest.raises(ResumeError, match="refusing to overwrite"):
        run.write_json("a.json", {"x": 2})
    assert run.read_json("a.json") == {"x": 1}
    assert not [p for p in (tmp_path / "r").iterdir() if p.name.startswith(".")], "temporary files left behind"


def test_latest_and_damaged_checkpoint(tmp_path):
    run = RunDir(tmp_path / "r", RunConfig(), resume=False)
    for e in (3, 10, 7):
        run.write_json(f"gen-{e:03d}.json", {"e": e})
    assert run.latest("gen-") == "gen-010.json"
    (tmp_path / "r" / "bad.json").write_text("{trunc")
    with pytest.raises(ResumeError, match="damaged checkpoint"):
        run.read_json("bad.json")


def test_non_empty_folder_without_run_is_refused(tmp_path):
    (tmp_path / "junk.txt").write_text("x")
    with pytest.raises(ResumeError, match="not empty"):
        RunDir(tmp_path, RunConfig(), resume=False)


def test_config_file_errors(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{"epochs": 2, "bogus": 1}')
    with pytest.raises(ConfigError, match="unknown config key"):
        load_config(p)
    p.write_text('{"population": 2}')
    with pytest.raises(ConfigError, match="population must be at least 4"):
        load_config(p)
    t = tmp_path / "c.toml"
    t.write_text('epochs = 5\nwidth_mults = [0.5]\n')
    cfg = load_config(t)
    assert cfg.epochs == 5 and cfg.width_mults == (0.5,)
    assert parse_bytes("64KiB") == 65536 and parse_bytes("1MiB") == 1 << 20
    with pytest.raises(ConfigError):
        parse_bytes("lots")


def test_a_run_without_results_is_started_afresh(tmp_path):
    RunDir(tmp_path / "r", RunConfig(epochs=3), resume=False)      # e.g. failed in SuperNAS: no step finished
    run = RunDir(tmp_path / "r", RunConfig(epochs=4), resume=False)
    assert run.read_json("config.json")["epochs"] == 4
    run.write_json("supernas.json", {})
    with pytest.raises(ResumeError, match="already holds a run"):
        RunDir(tmp_path / "r", RunConfig(epochs=5), resume=False)
