"""Output folders: tfc writes only its own files, refuses folders of the user's, replaces its own
projects atomically and never touches the input model."""
from __future__ import annotations

import os
import tempfile

import pytest

from synthetic import int8_graph
from tfc.backends.cmsis import project, project_dir, write_project
from tfc.backends.cmsis.project_dir import MANIFEST, read_manifest
from tfc.errors import OutputError


@pytest.fixture(scope="module")
def synthetic():
    return int8_graph()


def _tree(folder):
    """{relative path: bytes} of every file under `folder`."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _user_folder(tmp_path):
    out = tmp_path / "out"
    (out / "src").mkdir(parents=True)
    (out / "NOTES.txt").write_text("my notes")
    (out / "src" / "app.c").write_text("int main(void) { return 0; }\n")
    return out


def test_a_folder_of_the_users_is_refused_and_nothing_is_deleted(synthetic, tmp_path):
    out = _user_folder(tmp_path)
    before = _tree(out)
    with pytest.raises(OutputError, match=r"not empty \(NOTES.txt, src\) and is not a tfc project"):
        write_project(synthetic, out, target="cortex-m7", name="syn")
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "a refused write left files beside the folder"


def test_force_writes_the_project_and_keeps_the_users_files(synthetic, tmp_path):
    out = _user_folder(tmp_path)
    before = _tree(out)
    info = write_project(synthetic, out, target="cortex-m7", name="syn", force=True)
    after = _tree(out)
    assert {k: after[k] for k in before} == before, "--force deleted or changed a file of the user's"
    assert set(after) == set(before) | set(info.files)
    assert read_manifest(out) == list(info.files)


def test_a_tfc_project_is_replaced_and_files_tfc_no_longer_writes_go(synthetic, tmp_path):
    out = tmp_path / "out"
    first = write_project(synthetic, out, target="cortex-m7", name="syn")
    # A file tfc wrote last time and does not write now (listed in the manifest) goes away.
    (out / "runtime" / "src" / "old_kernel.c").write_text("/* from an older tfc */")
    with open(out / MANIFEST, "a", encoding="ascii") as f:
        f.write("runtime/src/old_kernel.c\n")
    second = write_project(synthetic, out, target="cortex-m7", name="other")
    assert not (out / "runtime" / "src" / "old_kernel.c").exists()
    assert sorted(_tree(out)) == list(second.files)
    assert "tfc_other_run" in (out / "model.h").read_text() and first.files == second.files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "the swap left a folder behind"


def test_files_the_user_added_to_a_tfc_project_are_kept(synthetic, tmp_path):
    out = tmp_path / "out"
    write_project(synthetic, out, target="cortex-m7", name="syn")
    (out / "NOTES.txt").write_text("mine")
    (out / "build").mkdir()
    (out / "build" / "app.o").write_bytes(b"\x7fELF")
    info = write_project(synthetic, out, target="cortex-m7", name="other")
    assert (out / "NOTES.txt").read_text() == "mine" and (out / "build" / "app.o").read_bytes() == b"\x7fELF"
    assert "tfc_other_run" in (out / "model.h").read_text()
    assert set(_tree(out)) == set(info.files) | {"NOTES.txt", "build/app.o"}
    assert not [p for p in out.iterdir() if p.name.startswith(".tfc-")], "a temporary folder was left"


@pytest.mark.parametrize("layout", ["only tfc files", "with a file of the user's"])
def test_a_failed_write_leaves_the_old_project_as_it_was(synthetic, tmp_path, monkeypatch, layout):
    out = tmp_path / "out"
    write_project(synthetic, out, target="cortex-m7", name="syn")
    if layout != "only tfc files":
        (out / "NOTES.txt").write_text("mine")
    before = _tree(out)

    def fail_midway(root, *_):
        (root / "model.c").write_text("partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(project, "_write_tree", fail_midway)
    with pytest.raises(OutputError, match="No space left on device"):
        write_project(synthetic, out, target="cortex-m7", name="other")
    assert _tree(out) == before, "the previous project was damaged"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_new_folder_is_written_whole_or_not_at_all(synthetic, tmp_path, monkeypatch):
    def fail_midway(root, *_):
        (root / "model.c").write_text("partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(project, "_write_tree", fail_midway)
    with pytest.raises(OutputError):
        write_project(synthetic, tmp_path / "out", target="cortex-m7", name="syn")
    assert list(tmp_path.iterdir()) == []


def test_the_current_folder_works_as_output(synthetic, tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    info = write_project(synthetic, ".", target="cortex-m7", name="syn")
    assert info.path == here and (here / "model.h").is_file()
    info = write_project(synthetic, ".", target="cortex-m7", name="again")   # a tfc project now
    assert "tfc_again_run" in (here / "model.h").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"], "a stray folder was left beside '.'"
    assert os.getcwd() == str(here)


def test_the_input_model_is_never_replaced(synthetic, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.c").write_text("the user's model, by an unlucky name")
    with pytest.raises(OutputError, match="the input model"):
        write_project(synthetic, out, target="cortex-m7", name="syn", force=True, protect=[out / "model.c"])
    assert (out / "model.c").read_text() == "the user's model, by an unlucky name"


def test_a_file_in_the_way_is_an_output_error(synthetic, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        write_project(synthetic, tmp_path / "file", target="cortex-m7", name="syn")
    with pytest.raises(OutputError, match="which is a file"):
        write_project(synthetic, tmp_path / "file" / "out", target="cortex-m7", name="syn")


def test_file_system_errors_are_output_errors(synthetic, tmp_path, monkeypatch):
    def read_only(*args, **kw):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkdtemp", read_only)
    with pytest.raises(OutputError, match="cannot write the C project to .*: Read-only file system"):
        write_project(synthetic, tmp_path / "out", target="cortex-m7", name="syn")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_an_output_error(synthetic, tmp_path):
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="Permission denied"):
            write_project(synthetic, tmp_path / "out", target="cortex-m7", name="syn")
    finally:
        tmp_path.chmod(0o755)


def test_the_manifest_ignores_paths_outside_the_folder(tmp_path):
    (tmp_path / MANIFEST).write_text("# header\nmodel.c\n../escape.c\n/etc/passwd\nruntime/src/a.c\n")
    assert read_manifest(tmp_path) == ["model.c", "runtime/src/a.c"]
    assert project_dir.read_manifest(tmp_path / "absent") is None


def test_a_project_an_older_tfc_wrote_is_named_as_such(synthetic, tmp_path):
    out = tmp_path / "old"
    write_project(synthetic, out, target="cortex-m7", name="syn")
    (out / MANIFEST).unlink()                      # as tfc wrote projects before the manifest
    with pytest.raises(OutputError, match="an older tfc wrote it") as e:
        write_project(synthetic, out, target="cortex-m7", name="syn")
    assert "--force" in e.value.hint
    write_project(synthetic, out, target="cortex-m7", name="syn", force=True)
    assert read_manifest(out) is not None
