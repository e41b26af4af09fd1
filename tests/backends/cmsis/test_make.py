"""The generated project's build: nothing from the shell's environment, a cache key over every input."""
from __future__ import annotations

from pathlib import Path

from tfc.backends.cmsis.make import build_key, make_environment, make_variables


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "Makefile").write_text("all:\n")
    (root / "model.c").write_text("int x;\n")
    return root


def test_the_environment_loses_every_variable_the_makefile_reads(monkeypatch):
    for name in ("CMSIS_NN_ROOT", "CFLAGS", "CPPFLAGS", "ARM_CFLAGS", "MAKEFLAGS"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("PATH_LIKE_BUT_NOT_READ", "kept")
    env = make_environment()
    assert not {"CMSIS_NN_ROOT", "CFLAGS", "CPPFLAGS", "ARM_CFLAGS", "MAKEFLAGS"} & set(env)
    assert env["PATH_LIKE_BUT_NOT_READ"] == "kept"
    assert make_variables({"TARGET": "host"}, None) == {"TARGET": "host", "CMSIS_NN_ROOT": ""}


def test_the_build_key_covers_files_variables_compiler_and_cmsis_nn_sources(tmp_path):
    project = _project(tmp_path / "p")
    base = make_variables({"TARGET": "host"}, None)
    key = build_key(project, base, ["gcc"])
    assert key == build_key(project, base, ["gcc"])
    (project / "build").mkdir()
    (project / "build" / "old.o").write_text("ignored")
    assert key == build_key(project, base, ["gcc"]), "build outputs are not inputs"
    assert key != build_key(project, make_variables({"TARGET": "host", "PROFILE": "1"}, None), ["gcc"])
    assert key != build_key(project, base, ["arm-none-eabi-gcc"])
    nn = tmp_path / "nn"
    (nn / "Source").mkdir(parents=True)
    (nn / "Include").mkdir()
    (nn / "Source" / "a.c").write_text("int a;\n")
    with_nn = build_key(project, make_variables({"TARGET": "host"}, str(nn)), ["gcc"])
    assert with_nn != key
    (nn / "Source" / "a.c").write_text("int a = 1;\n")
    assert build_key(project, make_variables({"TARGET": "host"}, str(nn)), ["gcc"]) != with_nn, \
        "an edited CMSIS-NN source must rebuild"
    (project / "model.c").write_text("int y;\n")
    assert build_key(project, base, ["gcc"]) != key
