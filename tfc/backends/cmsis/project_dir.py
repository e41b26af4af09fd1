"""Putting a generated C project into the user's folder without losing anything of theirs.

tfc writes only its own files. A folder it wrote holds a manifest (`tfc-manifest.txt`) listing
them; that is how a later compile knows the folder is a tfc project it may replace. The rules:

- absent, or an empty folder: the project is written aside and renamed into place;
- a tfc project holding only tfc's files: written aside, then swapped in (old aside, new in, old
  removed), so a failure at any point leaves the old project intact;
- a tfc project with files of the user's beside it (or the folder the user stands in, `-o .`):
  the new files are written aside, then renamed one by one over tfc's old ones; files tfc wrote
  before and does not write now are removed; every other file is kept;
- any other non-empty folder is refused unless `force` (then treated as the previous case: tfc's
  files are written into it, files of other names are kept).

Every file-system failure becomes an OutputError naming the folder, never an OSError.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable

from tfc.errors import OutputError

MANIFEST = "tfc-manifest.txt"
_HEADER = ("# tfc project: the files below were written by tfc. `tfc compile -o` / cm.save() replace them\n"
           "# and keep every other file in this folder.\n")


def read_manifest(folder: Path) -> list[str] | None:
    """The files a tfc project lists, or None if `folder` is not a tfc project."""
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    return [line for line in (raw.strip() for raw in lines) if line and not line.startswith("#")
            and _is_plain_relative(line)]


def _is_plain_relative(rel: str) -> bool:
    p = PurePosixPath(rel)
    return not p.is_absolute() and ".." not in p.parts and rel == p.as_posix()


def place_project(out_dir, write_tree: Callable[[Path], list[str]], *, force: bool = False,
                  protect: Iterable = ()) -> list[str]:
    """Write a project into `out_dir` by the rules above; `write_tree(root)` writes the files
    under `root` and returns their relative paths. `protect`: paths never to overwrite or remove
    (the input model). Returns the relative paths written, the manifest included."""
    out = Path(os.path.abspath(out_dir))
    try:
        return _place(out, write_tree, force, {Path(os.path.realpath(p)) for p in protect})
    except OSError as e:
        raise OutputError(f"cannot write the C project to {out}: {e.strerror or e}",
                          hint="choose a folder you can write to") from None


def check_project_folder(out_dir, *, force: bool = False) -> None:
    """Refuse (OutputError) a folder place_project would refuse; call it before compiling so a
    bad `-o` fails fast."""
    out = Path(os.path.abspath(out_dir))
    try:
        _inspect(out, force)
    except OSError as e:
        raise OutputError(f"cannot use {out} as the output folder: {e.strerror or e}") from None


def _inspect(out: Path, force: bool) -> tuple[list[str] | None, list[str]]:
    """(the manifest's files or None, the folder's entries); refuses what must not be written."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder", hint="choose another output folder")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{out} is under {parent}, which is a file",
                                  hint="choose another output folder")
            break
    old = read_manifest(out) if out.is_dir() else None
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if entries and old is None and not force:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        older = (" (its model.h says an older tfc wrote it, before tfc kept a manifest)"
                 if _written_by_older_tfc(out) else "")
        raise OutputError(f"{out} is not empty ({shown}) and is not a tfc project (it has no {MANIFEST}){older}",
                          hint="choose a new or empty folder, or pass --force (save(..., force=True)) to "
                               "write the project into it: files with the names tfc writes are replaced, "
                               "all others are kept")
    return old, entries


def _written_by_older_tfc(folder: Path) -> bool:
    try:
        return "compiled by tfc" in (folder / "model.h").read_text(encoding="ascii", errors="replace")[:400]
    except OSError:
        return False


def _place(out: Path, write_tree, force: bool, protected: set[Path]) -> list[str]:
    old, entries = _inspect(out, force)
    swap = not _contains_cwd(out) and (not entries or (old is not None and _holds_only(out, set(old) | {MANIFEST})))
    out.parent.mkdir(parents=True, exist_ok=True)
    # Written aside on the same file system, so the renames below cannot fail half-way for space.
    tmp = Path(tempfile.mkdtemp(prefix=".tfc-tmp-", dir=out.parent if swap else out))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        files = sorted(write_tree(tmp) + [MANIFEST])
        (tmp / MANIFEST).write_text(_HEADER + "".join(f"{rel}\n" for rel in files), encoding="ascii")
        _check_protected(out, files + (old or []), protected)
        if swap:
            _swap(tmp, out)
        else:
            _merge(tmp, out, files, old or [])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return files


def _holds_only(folder: Path, listed: set[str]) -> bool:
    return all(p.relative_to(folder).as_posix() in listed for p in folder.rglob("*") if not p.is_dir())


def _contains_cwd(folder: Path) -> bool:
    """The folder the user stands in (or one above it) is never renamed: their shell would be
    left in a deleted folder."""
    cwd = Path(os.path.realpath(os.getcwd()))
    real = Path(os.path.realpath(folder))
    return cwd == real or real in cwd.parents


def _check_protected(out: Path, rels: list[str], protected: set[Path]) -> None:
    for rel in rels:
        if Path(os.path.realpath(out / rel)) in protected:
            raise OutputError(f"writing the project to {out} would replace {out / rel}, the input model",
                              hint="choose another output folder")


def _swap(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.replace(tmp, out)
        return
    aside = Path(tempfile.mkdtemp(prefix=".tfc-old-", dir=out.parent))
    try:
        os.replace(out, aside / "project")
        try:
            os.replace(tmp, out)
        except OSError:
            os.replace(aside / "project", out)   # put the old project back
            raise
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def _merge(tmp: Path, out: Path, files: list[str], old: list[str]) -> None:
    for rel in files:
        if (out / rel).is_dir():
            raise OutputError(f"{out / rel} is a folder where tfc writes a file", hint="move it away")
    for rel in files:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / rel, out / rel)
    stale = sorted(set(old) - set(files))
    for rel in stale:
        if (out / rel).is_file():
            (out / rel).unlink()
    for folder in sorted({p for rel in stale for p in PurePosixPath(rel).parents if p.parts},
                         key=lambda p: -len(p.parts)):
        try:
            (out / folder).rmdir()   # only if tfc's files were all it held
        except OSError:
            pass
