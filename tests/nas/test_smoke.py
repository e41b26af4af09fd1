"""End-to-end smoke run of `tfc-nas run` on digits (tiny settings), and resume behaviour."""
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
from nas.cli import main  # noqa: E402

TINY = {"epochs": 1, "population": 4, "generations": 1, "supernas_samples": 3, "finetune_epochs": 1,
        "width_mults": [0.5], "transformer_starts": [None], "train_limit": 200, "target": "host"}


def test_pipeline_smoke_and_resume(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(TINY))
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    final = report["final"]
    assert final["search_equals_compiled"], (final["search"], final["compiled"])
    assert 0.0 <= final["int8_test_accuracy"] <= 1.0
    for name in ("report.md", "pareto.png", "model.onnx", "supernet.pt", "sparsenas.json"):
        assert (out / name).is_file(), name
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    # a resumed finished run recomputes nothing and overwrites nothing
    assert main(["run", "--config", str(cfg), "--out", str(out), "--quiet", "--resume"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    # a different config is refused, naming the key
    capsys.readouterr()
    assert main(["run", "--config", str(cfg), "--out", str(out), "--quiet", "--resume", "--seed", "5"]) == 2
    assert "seed: run has 0, now 5" in capsys.readouterr().err


def test_budget_below_the_reserves_fails_at_once_naming_them(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(TINY))
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "r"), "--quiet", "--flash", "25KiB",
                 "--sram", "7KiB"]) == 2
    err = capsys.readouterr().err
    assert "flash budget (25,600 B) is not above the 34,816 B reserved for code" in err and "flash_reserve" in err
    assert not (tmp_path / "r").exists(), "a refused run must not leave a run directory"


def test_budget_no_sub_network_meets_exits_2(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(TINY))
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "r"), "--quiet", "--flash", "36KiB",
                 "--sram", "7KiB"]) == 2
    assert "no sub-network" in capsys.readouterr().err


@pytest.mark.slow
def test_pipeline_on_a_tiny_cifar_folder(tmp_path):
    from nas.data import write_cifar10_folder
    folder = write_cifar10_folder(tmp_path / "cifar", per_batch=30)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**TINY, "data": f"cifar10:{folder}"}))
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["data"].startswith("cifar10: ") and report["final"]["search_equals_compiled"]
