"""`python -m benchmarks.corpus build|run`: build the corpus (in its own venv) or judge it and
regenerate docs/models.md."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from benchmarks.corpus.specs import CACHE, MANIFEST, read_manifest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV_PYTHON = CACHE / "venv" / "bin" / "python"


def build(args) -> int:
    subprocess.run(["bash", str(HERE / "setup.sh")], check=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2",
               CUDA_VISIBLE_DEVICES="")
    cmd = [str(VENV_PYTHON), "-m", "benchmarks.corpus.build"] + (["--only", *args.only] if args.only else [])
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def run(args) -> int:
    from benchmarks.corpus.run import Row, evaluate, markdown, summary
    if not MANIFEST.exists():
        print(f"no corpus at {MANIFEST}: run `python -m benchmarks.corpus build` first", file=sys.stderr)
        return 2
    manifest = read_manifest()
    results = CACHE / "results.json"
    # With --only, the other files keep their last results: the table stays whole.
    kept = {r["name"]: Row(**r) for r in json.loads(results.read_text())} if args.only and results.exists() else {}
    rows = []
    for entry in manifest:
        if args.only and entry.family not in args.only and entry.name not in args.only:
            if entry.name in kept:
                rows.append(kept[entry.name])
            continue
        row = evaluate(entry, m7=not args.no_m7, bench=args.bench)
        rows.append(row)
        status = "ok" if row.matches else (f"{row.stage}: {row.error}" if row.error else "miss")
        print(f"{row.name:<36} {status}", flush=True)
    results.write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    print(summary(rows))
    if args.out:
        freeze = CACHE / "freeze.txt"
        versions = ("Corpus venv (pip freeze, selected): " + ", ".join(
            line for line in freeze.read_text().split() if line.split("==")[0].lower().replace("_", "-") in
            {"torch", "transformers", "tensorflow-cpu", "tf-keras", "tf2onnx", "onnx", "onnxruntime",
             "onnxscript", "numpy", "protobuf"}) if freeze.exists() else "corpus venv: unknown")
        Path(args.out).write_text(markdown(rows, versions))
        print(f"wrote {args.out}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.corpus", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the corpus files in their own venv (cached)")
    b.add_argument("--only", nargs="*", help="spec names")
    r = sub.add_parser("run", help="judge the corpus with tfc and write the table")
    r.add_argument("--only", nargs="*", help="families or file names (the others keep their last results)")
    r.add_argument("--no-m7", action="store_true", help="skip the cortex-m7 plan")
    r.add_argument("--bench", action="store_true", help="count instructions on the emulated Cortex-M7")
    r.add_argument("--out", default=str(ROOT / "docs" / "models.md"), help="the markdown table ('' for none)")
    args = parser.parse_args(argv)
    return build(args) if args.command == "build" else run(args)


if __name__ == "__main__":
    sys.exit(main())
