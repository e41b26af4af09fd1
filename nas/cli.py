"""`tfc-nas` / `python -m nas`: search a sparse hybrid for a flash/SRAM budget and compile it with tfc.

    tfc-nas run --data digits --flash 64KiB --sram 32KiB --out runs/digits
    tfc-nas run --config nas.toml --out runs/x --resume
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback

from tfc.errors import TfcError

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    from nas.config import parse_bytes
    p = argparse.ArgumentParser(prog="tfc-nas", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="the whole pipeline: SuperNAS, supernet, SparseNAS, fine-tune, compile, report")
    r.add_argument("--out", required=True, help="run directory (checkpoints and the report)")
    r.add_argument("--config", help="a .json or .toml file of RunConfig keys")
    r.add_argument("--data", help="'digits' or 'cifar10:PATH'")
    r.add_argument("--target", help="tfc target (default cortex-m7)")
    r.add_argument("--flash", type=_size(parse_bytes), help="flash budget, e.g. 64KiB (default: the target's)")
    r.add_argument("--sram", type=_size(parse_bytes), help="SRAM budget, e.g. 32KiB (default: the target's)")
    r.add_argument("--seed", type=int)
    r.add_argument("--resume", action="store_true", help="continue the run in --out (same config required)")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _size(parse):
    def f(text):
        try:
            return parse(text)
        except TfcError as e:
            raise argparse.ArgumentTypeError(e.message) from None
    return f


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="tfc-nas: %(message)s")
    logging.getLogger("tfc").setLevel(logging.WARNING)     # tfc's per-pass log is for tfc's own CLI
    try:
        from nas.config import load_config
        from nas.pipeline import run_pipeline
        cfg = load_config(args.config).with_overrides(data=args.data, target=args.target, flash_bytes=args.flash,
                                                      sram_bytes=args.sram, seed=args.seed)
        report = run_pipeline(cfg, args.out, resume=args.resume, quiet=args.quiet)
    except TfcError as e:
        if args.debug:
            traceback.print_exc()
        print(f"tfc-nas: error: {e.format()}", file=sys.stderr)
        return EXIT_USER_ERROR
    f = report["final"]
    print(json.dumps({"int8_test_accuracy": f["int8_test_accuracy"], "run_on": f["run_on"],
                      "flash": f["compiled"]["flash"], "sram": f["compiled"]["sram"],
                      "search_equals_compiled": f["search_equals_compiled"], "seconds": report["seconds"],
                      "report": str(args.out) + "/report.md"}, indent=1))
    return 0
