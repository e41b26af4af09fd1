"""The tfc command: output, exit codes, and one clear message (no traceback) on bad input."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tfc.cli import main
from tfc.data import DEMO_MODEL

REPO = Path(__file__).resolve().parents[1]
TINY = """
graph @tiny {
  input %x : f32[1,4]
  %a = relu(%x) : f32[1,4] loc("a")
  %y = relu(%a) : f32[1,4] loc("y")
  output %y
}
"""


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.tfcir"
    path.write_text(TINY)
    return path


def test_passes_lists_registered_passes_with_descriptions(capsys):
    code, out, _ = run_cli(capsys, "passes")
    assert code == 0
    assert re.search(r"^canonicalize +fold constants", out, re.M), out
    assert "\ndefault pipeline: canonicalize" in out


def test_inspect_prints_the_imported_ir(capsys):
    code, out, err = run_cli(capsys, "inspect", str(DEMO_MODEL))
    assert code == 0, err
    assert out.startswith("graph @") and "conv2d(" in out and "data {" not in out


def test_compile_prints_report_and_writes_dumps(capsys, tmp_path):
    dumps = tmp_path / "dumps"
    code, out, err = run_cli(capsys, "compile", str(DEMO_MODEL), "--target", "cortex-m7",
                             "--dump-ir", str(dumps), "--pipeline", "canonicalize", "-v")
    assert code == 0, err
    assert "target     cortex-m7: flash 1.00 MiB, SRAM 320.0 KiB" in out
    assert "conv2d" in out and "canonicalize" in out
    assert sorted(p.name for p in dumps.iterdir()) == ["00-import.tfcir", "01-canonicalize.tfcir"]
    assert "graph output" in err and "graph output" not in out, "the declined rewrites print once, on stderr"
    assert len(re.findall(r"^tfc: .*graph output", err, re.M)) == len(set(re.findall(r"^tfc: .*graph output", err, re.M)))


def test_compile_replays_a_dump(capsys, tiny):
    code, out, err = run_cli(capsys, "compile", str(tiny), "--pipeline", "canonicalize", "--print-ir")
    assert code == 0, err
    assert "relu" in out


@pytest.mark.parametrize("args, message", [
    (["compile", "{missing}"], "no such file"),
    (["compile", "{not_onnx}"], "not a valid ONNX file"),
    (["inspect", "{not_onnx}"], "not a valid ONNX file"),
    (["compile", "{bad_ir}"], "line 2"),
    (["compile", "{tiny}", "--target", "cortex-m99"], "unknown target 'cortex-m99'"),
    (["compile", "{tiny}", "--pipeline", "canonicalize,nope"], "unknown pass 'nope'"),
    (["compile", "{tiny}", "--pipeline", "canonicalize{nope=1}"], "has no option(s) nope"),
    (["compile", "{tiny}", "--dump-ir", "{not_onnx}"], "cannot write IR dumps"),
])
def test_bad_input_is_one_message_and_exit_code_2(capsys, tmp_path, tiny, args, message):
    not_onnx = tmp_path / "model.onnx"
    not_onnx.write_text("this is not a protobuf")
    bad_ir = tmp_path / "bad.tfcir"
    bad_ir.write_text("graph @g {\n  input %x : q32[1]\n}\n")
    paths = {"missing": tmp_path / "missing.onnx", "not_onnx": not_onnx, "bad_ir": bad_ir, "tiny": tiny}
    for key, path in paths.items():
        args = [str(path) if a == "{" + key + "}" else a for a in args]
    code, out, err = run_cli(capsys, *args)
    assert code == 2, f"exit code {code}; stderr: {err}"
    assert err.startswith("tfc: error: ") and message in err, err
    assert "Traceback" not in err


def test_debug_shows_the_traceback(capsys, tmp_path):
    code, _, err = run_cli(capsys, "--debug", "compile", str(tmp_path / "missing.onnx"))
    assert code == 2 and "Traceback" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["compile"])
    assert e.value.code == 2


def test_console_script_entry_point_runs_as_a_process(tmp_path):
    """The real process: stderr holds the message only, exit status 2."""
    proc = subprocess.run([sys.executable, "-m", "tfc.cli", "compile", str(tmp_path / "nope.onnx")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[0] == f"tfc: error: file {tmp_path / 'nope.onnx'}: no such file"
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------ output folders
def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def model_in_folder(tmp_path) -> Path:
    """The demo model in a folder of the user's, beside their notes."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(DEMO_MODEL.read_bytes())
    (folder / "NOTES.txt").write_text("my notes")
    return folder / "model.onnx"


def test_compile_refuses_a_folder_of_the_users_and_deletes_nothing(capsys, model_in_folder):
    folder = model_in_folder.parent
    before = _files(folder)
    code, out, err = run_cli(capsys, "compile", str(model_in_folder), "-o", str(folder))
    assert code == 2 and "is not a tfc project" in err and "--force" in err, err
    assert "Traceback" not in err and "flash" not in out, "the folder was checked only after compiling"
    assert _files(folder) == before


def test_compile_force_writes_beside_the_users_files_and_keeps_the_model(capsys, model_in_folder):
    folder = model_in_folder.parent
    before = _files(folder)
    code, out, err = run_cli(capsys, "compile", str(model_in_folder), "-o", str(folder), "--force")
    assert code == 0, err
    after = _files(folder)
    assert {k: after[k] for k in before} == before, "--force changed the model or the user's notes"
    assert "model.h" in after and "tfc-manifest.txt" in after


def test_compile_replaces_its_own_project_and_a_failed_compile_leaves_it(capsys, tmp_path):
    out_dir = tmp_path / "out"
    code, _, err = run_cli(capsys, "compile", str(DEMO_MODEL), "-o", str(out_dir), "--name", "first")
    assert code == 0, err
    code, _, err = run_cli(capsys, "compile", str(DEMO_MODEL), "-o", str(out_dir), "--name", "second")
    assert code == 0, err
    assert "tfc_second_run" in (out_dir / "model.h").read_text()
    before = _files(out_dir)
    code, _, err = run_cli(capsys, "compile", str(tmp_path / "missing.onnx"), "-o", str(out_dir))
    assert code == 2
    code, _, err = run_cli(capsys, "compile", str(DEMO_MODEL), "-o", str(out_dir), "--pipeline", "canonicalize")
    assert code == 2 and "quantize-int8" in err, err     # a float graph cannot be emitted
    assert _files(out_dir) == before, "a failed compile changed the previous project"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_compile_into_the_current_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "compile", str(DEMO_MODEL), "-o", ".")
    assert code == 0, err
    assert (tmp_path / "model.h").is_file() and Path.cwd() == tmp_path
    assert not [p for p in tmp_path.parent.iterdir() if p.name.startswith((".tfc-", ".."))]


@pytest.mark.parametrize("args, message", [
    (["compile", "{model}", "-o", "{file}/out"], "which is a file"),
    (["compile", "{model}", "-o", "{file}"], "is not a folder"),
    (["run", "{model}", "--input", "{x}", "--output", "{file}/y.npy"], "is not a folder"),
    (["bench", "{model}", "--json", "{file}/b.json"], "is not a folder"),
])
def test_file_system_errors_are_one_message_before_any_work(capsys, tmp_path, args, message):
    import numpy as np
    (tmp_path / "file").write_text("x")
    np.save(tmp_path / "x.npy", np.zeros((1, 32, 32, 3), np.float32))
    fill = {"{model}": str(DEMO_MODEL), "{file}": str(tmp_path / "file"), "{x}": str(tmp_path / "x.npy")}
    for key, value in fill.items():
        args = [a.replace(key, value) for a in args]
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and message in err and "Traceback" not in err, err


def test_an_os_error_anywhere_is_one_message_and_exit_2(capsys, tmp_path, monkeypatch):
    import tfc.compiler
    def read_only(*a, **kw):
        raise OSError(30, "Read-only file system", str(tmp_path / "x"))
    monkeypatch.setattr(tfc.compiler, "compile", read_only)
    code, _, err = run_cli(capsys, "compile", str(DEMO_MODEL))
    assert code == 2 and err == f"tfc: error: file {tmp_path / 'x'}: Read-only file system\n", err


def test_an_internal_error_says_it_is_a_bug_in_tfc(capsys, monkeypatch):
    import tfc.compiler
    def broken(*a, **kw):
        raise KeyError("oops")
    monkeypatch.setattr(tfc.compiler, "compile", broken)
    code, _, err = run_cli(capsys, "compile", str(DEMO_MODEL))
    assert code == 3 and "internal error: KeyError" in err and "this is a bug in tfc" in err, err
    assert "Traceback" not in err


# ------------------------------------------------------------------------- flags (issue 19)
def test_version(capsys):
    from tfc import __version__
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"tfc {__version__}"


def _float_model(tmp_path) -> Path:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper, save
    w = numpy_helper.from_array(np.random.default_rng(1).normal(size=(8, 4)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    path = tmp_path / "float.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    np.save(tmp_path / "cal.npy", np.random.default_rng(2).normal(size=(8, 1, 8)).astype(np.float32))
    np.save(tmp_path / "x.npy", np.random.default_rng(3).normal(size=(1, 8)).astype(np.float32))
    return path


def test_run_calibrates_a_float_model_and_messages_name_the_flags(capsys, tmp_path):
    import numpy as np
    model = _float_model(tmp_path)
    code, _, err = run_cli(capsys, "run", str(model), "--input", str(tmp_path / "x.npy"), "--on", "host")
    assert code == 2 and "--calibration FILE.npy" in err and "calibration=<" not in err, err
    code, out, err = run_cli(capsys, "run", str(model), "--input", str(tmp_path / "x.npy"), "--on", "host",
                             "--target", "host", "--calibration", str(tmp_path / "cal.npy"),
                             "--output", str(tmp_path / "y.npy"))
    assert code == 0, err
    assert np.load(tmp_path / "y.npy").dtype == np.float32
    np.save(tmp_path / "xi.npy", np.zeros((1, 8), np.int8))
    code, _, err = run_cli(capsys, "run", str(model), "--input", str(tmp_path / "xi.npy"), "--target", "host",
                           "--calibration", str(tmp_path / "cal.npy"))
    assert code == 2 and "with --raw" in err and "raw=True" not in err, err


def test_calibration_errors_name_the_file(capsys, tmp_path):
    import numpy as np
    model = _float_model(tmp_path)
    np.save(tmp_path / "bad.npy", np.zeros((4, 3), np.float32))
    code, _, err = run_cli(capsys, "compile", str(model), "--calibration", str(tmp_path / "bad.npy"))
    assert code == 2 and f"file {tmp_path / 'bad.npy'}" in err and "has shape [4, 3]" in err, err


def test_bench_takes_calibration(capsys, tmp_path):
    """bench on a float model needs --calibration like compile; with it the model compiles (and
    is then refused by the target check before any build: bench measures a Cortex-M, not 'host')."""
    model = _float_model(tmp_path)
    code, _, err = run_cli(capsys, "bench", str(model), "--target", "host")
    assert code == 2 and "--calibration FILE.npy" in err, err
    code, _, err = run_cli(capsys, "bench", str(model), "--target", "host", "--calibration", str(tmp_path / "cal.npy"))
    assert code == 2 and "measures an emulated Cortex-M target" in err, err     # compiled: calibration was used
