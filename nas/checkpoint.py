"""The run directory: config.json plus one file per finished step, never overwritten.

Files are written to a temporary name and then hard-linked into place (`os.link` fails if the
name exists), so a crash leaves either the old state or the complete new file, and nothing a run
wrote can be clobbered by a later one. A resumed run must have the same config.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from nas.config import RunConfig
from nas.errors import ResumeError


class RunDir:
    """`writer=False`: a reader of a run another process writes (the other ranks of a torchrun
    launch); its writes are skipped."""

    def __init__(self, path: str | Path, config: RunConfig, *, resume: bool, writer: bool = True):
        self.path = Path(path)
        self.writer = writer
        cfg_file = self.path / "config.json"
        if cfg_file.exists() and not resume and writer and self._holds_only_config():
            cfg_file.unlink()              # a run that failed before its first result: start it afresh
        if cfg_file.exists():
            if not resume:
                raise ResumeError(f"{self.path} already holds a run", file=str(cfg_file),
                                  hint="pass --resume to continue it, or choose another --out")
            try:
                old = json.loads(cfg_file.read_text())
            except ValueError as e:
                raise ResumeError(f"config.json is damaged: {e}", file=str(cfg_file)) from None
            new = json.loads(json.dumps(config.to_dict()))
            diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            if diff:
                detail = "; ".join(f"{k}: run has {old.get(k)!r}, now {new.get(k)!r}" for k in diff)
                raise ResumeError(f"the resumed run's config differs ({detail})", file=str(cfg_file),
                                  hint="resume with the same config, or start a new run in another --out")
        else:
            if self.path.exists() and any(self.path.iterdir()):
                raise ResumeError(f"{self.path} is not empty and holds no run", file=str(self.path),
                                  hint="choose an empty or new --out directory")
            self.path.mkdir(parents=True, exist_ok=True)
            self.write_json("config.json", config.to_dict())

    def _holds_only_config(self) -> bool:
        return [p.name for p in self.path.iterdir()] == ["config.json"]

    def file(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        return (self.path / name).exists()

    def _publish(self, name: str, write) -> Path:
        dest = self.path / name
        if not self.writer:
            return dest
        if dest.exists():
            raise ResumeError(f"refusing to overwrite {name}", file=str(dest),
                              hint="checkpoints are never overwritten; start a new --out")
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        os.close(fd)
        try:
            write(Path(tmp))
            os.link(tmp, dest)
        finally:
            os.unlink(tmp)
        return dest

    def write_json(self, name: str, obj) -> Path:
        return self._publish(name, lambda p: p.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n"))

    def write_bytes(self, name: str, data: bytes) -> Path:
        return self._publish(name, lambda p: p.write_bytes(data))

    def save_torch(self, name: str, obj) -> Path:
        return self._publish(name, lambda p: torch.save(obj, p))

    def read_json(self, name: str):
        try:
            return json.loads((self.path / name).read_text())
        except ValueError as e:
            raise ResumeError(f"damaged checkpoint: {e}", file=str(self.path / name)) from None

    def load_torch(self, name: str):
        try:
            return torch.load(self.path / name, weights_only=False)
        except Exception as e:  # torch raises many types on a truncated file
            raise ResumeError(f"damaged checkpoint: {type(e).__name__}: {e}", file=str(self.path / name)) from None

    def latest(self, prefix: str) -> str | None:
        """The newest file named prefix + <number> (e.g. supernet-epoch-0007.pt)."""
        names = sorted(p.name for p in self.path.glob(prefix + "*") if not p.name.startswith("."))
        return names[-1] if names else None
