"""`tfc compile|bench --plot FILE.png`: the fused-tile schedules' peak-SRAM vs extra-MACs curve is
written as a PNG that tfc marks as its own; tfc replaces only such a file, refuses any other
before any work, and says what to do when there is no curve or no matplotlib. tfc bench of a
tiled model shows the instructions its bands spend between the layers."""
from __future__ import annotations

import json
import os
import sys

import pytest

from tests.targets.cortex_m.conftest import qemu, toolchain  # noqa: F401
from tfc.cli import main
from tfc.data import DEMO_MODEL
from tfc.tile_plot import PNG_SIGNATURE, written_by_tfc


def run_cli(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_compile_writes_the_curve_and_replaces_only_its_own_png(capsys, tmp_path):
    png = tmp_path / "tiles.png"
    code, out, err = run_cli(capsys, "compile", DEMO_MODEL, "--extra-macs", "0", "--plot", png)
    assert code == 0, err
    assert png.read_bytes().startswith(PNG_SIGNATURE) and written_by_tfc(png) and f"wrote {png}" in out
    umask = os.umask(0)
    os.umask(umask)
    assert png.stat().st_mode & 0o777 == 0o666 & ~umask   # as open() would make it, not mkstemp's 0600
    first = png.stat().st_mtime_ns
    code, _, err = run_cli(capsys, "compile", DEMO_MODEL, "--extra-macs", "0.05", "--plot", png)
    assert code == 0, err                       # tfc's own plot: replaced
    assert written_by_tfc(png) and png.stat().st_mtime_ns >= first
    assert [p.name for p in tmp_path.iterdir()] == ["tiles.png"]   # no temporary file left


@pytest.mark.parametrize("content", [b"the user's notes", PNG_SIGNATURE + b"\0\0\0\0IEND\xaeB`\x82"])
def test_a_file_tfc_did_not_write_is_refused_before_any_work(capsys, tmp_path, monkeypatch, content):
    import tfc.compiler

    def no_compile(*a, **kw):
        raise AssertionError("compiled before refusing the plot file")
    monkeypatch.setattr(tfc.compiler, "compile", no_compile)
    png = tmp_path / "mine.png"
    png.write_bytes(content)
    for command in ("compile", "bench"):
        code, _, err = run_cli(capsys, command, DEMO_MODEL, "--extra-macs", "0", "--plot", png)
        assert code == 2 and "tfc did not write it" in err and "Traceback" not in err, err
        assert png.read_bytes() == content


def test_no_schedules_no_curve(capsys, tmp_path):
    # ResNet-8's untiled arena fits the M7: without a budget nothing is weighed
    code, _, err = run_cli(capsys, "compile", DEMO_MODEL, "--plot", tmp_path / "t.png")
    assert code == 2 and "no fused-tile schedule was planned" in err and "--extra-macs" in err, err
    assert not (tmp_path / "t.png").exists()


def test_without_matplotlib_a_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)    # import matplotlib raises ImportError
    code, _, err = run_cli(capsys, "compile", DEMO_MODEL, "--extra-macs", "0", "--plot", tmp_path / "t.png")
    assert code == 2 and "--plot needs matplotlib" in err and "tfc[plot]" in err, err
    assert not list(tmp_path.iterdir())


def test_bench_writes_the_curve_beside_its_table(capsys, tmp_path, qemu):  # noqa: F811
    png, numbers = tmp_path / "bench.png", tmp_path / "bench.json"
    code, out, err = run_cli(capsys, "bench", DEMO_MODEL, "--extra-macs", "0", "--plot", png, "--json", numbers)
    assert code == 0, err
    assert "peak SRAM (arena) against extra MACs" in out and f"wrote {png}" in out
    assert png.read_bytes().startswith(PNG_SIGNATURE) and written_by_tfc(png)
    # the kept halo rows' memmoves run between the layers: the table shows them, and the layers
    # plus them make the total
    t = json.loads(numbers.read_text())["tfc"]
    (moves,) = [line for line in out.splitlines() if "halo-row moves" in line]
    moved = int(moves.split()[-1].replace(",", ""))
    assert moved > 0 and moved + sum(la["instructions"] for la in t["layers"]) == t["instructions"]
