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


FAST = {**TINY, "refine_archs": 0, "finalists": 1, "finalist_epochs": 1, "finetune_epochs": 2, "qat_epochs": 1}


def _deployable(out, channels: int):
    """What the run wrote is enough to deploy: the ONNX carries the preprocessing, tfc compiles it with
    the saved calibration samples to the numbers the run reported, and the C project is there."""
    import numpy as np
    import onnx

    import tfc
    from nas.preprocessing import ONNX_METADATA_KEY
    report = json.loads((out / "report.json").read_text())
    meta = {p.key: json.loads(p.value) for p in onnx.load(out / "model.onnx").metadata_props
            if p.key == ONNX_METADATA_KEY}[ONNX_METADATA_KEY]
    assert meta == report["preprocessing"] == json.loads((out / "preprocessing.json").read_text())
    cal = np.load(out / "calibration.npy")
    assert cal.shape[1:] == (channels, meta["resolution"], meta["resolution"])
    cm = tfc.compile(str(out / "model.onnx"), target=report["config"]["target"], calibration=cal)
    assert (cm.report.flash_bytes, cm.report.sram_bytes) == (report["final"]["compiled"]["flash"],
                                                             report["final"]["compiled"]["sram"])
    assert (out / "c" / "Makefile").is_file()
    md = (out / "report.md").read_text()
    assert "input preprocessing:" in md and "## Finalists" in md and "## Deploy" in md
    return report


def test_pipeline_on_an_image_folder_with_two_workers(tmp_path, capsys):
    from nas.data import write_image_folder
    folder = write_image_folder(tmp_path / "pics", classes=3, per_class=16)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**FAST, "data": f"folder:{folder}"}))
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--quiet", "--workers", "2"]) == 0
    report = _deployable(out, channels=3)
    assert report["preprocessing"]["channels"] == "RGB" and "resized with Pillow" in report["preprocessing"]["load_resize"]
    fin = report["finalists"][0]
    assert fin["sparse"]["finetuned_accuracy"] is not None and fin["dense"]["finetuned_accuracy"] is not None
    printed = capsys.readouterr().out
    assert "model data (tfc): flash" in printed and "C project:" in printed


def test_pipeline_on_npz_arrays(tmp_path):
    import numpy as np
    rng = np.random.default_rng(0)
    y = np.arange(120) % 4
    x = (rng.normal(0, 10, (120, 12, 12, 1)) + 60 * y[:, None, None, None]).clip(0, 255).astype(np.uint8)
    np.savez(tmp_path / "arrays.npz", x=x[:90], y=y[:90], x_test=x[90:], y_test=y[90:])
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({**FAST, "data": f"npz:{tmp_path / 'arrays.npz'}"}))
    out = tmp_path / "run"
    assert main(["run", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    report = _deployable(out, channels=1)
    assert report["data"].startswith("npz:arrays.npz: ") and "30 test" in report["data"]
    assert report["final"]["int8_test_accuracy"] > 0.5          # 4 separable brightness classes
