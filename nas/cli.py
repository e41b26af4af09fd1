"""`tfc-nas` / `python -m nas`: search a sparse hybrid for a flash/SRAM budget and compile it with tfc."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from pathlib import Path

from tfc.errors import TfcError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

EXAMPLES = """\
examples:
  tfc-nas run --data digits --flash 64KiB --sram 32KiB --out runs/digits
  tfc-nas run --data fashion-mnist --out runs/fmnist                 # the target's whole flash/SRAM
  tfc-nas run --data folder:~/pictures/sorted --flash 256KiB --sram 64KiB --out runs/mine
  tfc-nas run --data npz:arrays.npz --config nas.json --workers 2 --out runs/arrays
  tfc-nas run --data fashion-mnist --ray auto --out runs/ray          # evaluate candidates on a Ray cluster
  tfc-nas run --out runs/fmnist --resume                              # continue an interrupted run
  torchrun --nproc_per_node 2 -m nas run --data fashion-mnist --out runs/ddp   # data-parallel training
  tfc-nas config > nas.json                                           # the default config, to edit

data: digits | fashion-mnist[:PATH] | folder:PATH (one subfolder per class) | npz:PATH (x, y[, x_test,
y_test]) | cifar10:PATH. Fashion-MNIST: bash scripts/install-datasets.sh (Debian dataset-fashion-mnist).
"""


def build_parser() -> argparse.ArgumentParser:
    from nas.config import parse_bytes
    p = argparse.ArgumentParser(prog="tfc-nas", description="Search a sparse CNN + transformer hybrid for a "
                                "flash/SRAM budget (SuperNAS, SparseNAS) and compile it with tfc.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="the whole pipeline: SuperNAS, supernet, SparseNAS, fine-tune, compile, report",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--out", required=True, help="run directory (checkpoints, the report, the C project)")
    r.add_argument("--config", help="a .json or .toml file of RunConfig keys (tfc-nas config prints them)")
    r.add_argument("--data", help="digits, fashion-mnist[:PATH], folder:PATH, npz:PATH or cifar10:PATH")
    r.add_argument("--target", help="tfc target (default cortex-m7)")
    r.add_argument("--flash", type=_size(parse_bytes), help="flash budget, e.g. 64KiB (default: the target's)")
    r.add_argument("--sram", type=_size(parse_bytes), help="SRAM budget, e.g. 32KiB (default: the target's)")
    r.add_argument("--seed", type=int)
    r.add_argument("--resume", action="store_true",
                   help="continue the run in --out with its own config (flags given again must match it)")
    r.add_argument("--device", help="cpu, cuda or cuda:N for training and fine-tuning (default: cuda when "
                   "available)")
    r.add_argument("--workers", type=_positive,
                   help="processes evaluating candidates (export, tfc compile, cost, accuracy; default 1), or with "
                   "--ray the Ray actors (default: one per CPU of the cluster); same result for any N")
    r.add_argument("--ray", metavar="ADDRESS",
                   help="evaluate candidates on a Ray cluster: local (start Ray on this machine for the run, with "
                   "--workers CPUs), auto (the cluster `ray start --head` started here, or RAY_ADDRESS) or HOST:PORT "
                   "of the head node; same result as one process. Needs the extra: pip install -e '.[nas,ray]'")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.add_argument("--debug", action="store_true", help="show tracebacks")
    sub.add_parser("config", help="print the default config (JSON) to edit and pass with --config")
    return p


def _size(parse):
    def f(text):
        try:
            return parse(text)
        except TfcError as e:
            raise argparse.ArgumentTypeError(e.message) from None
    return f


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return v


def configure_logging(quiet: bool) -> None:
    """Only the `nas` logger: other libraries' log records stay theirs (tfc's per-pass log, onnxscript)."""
    log = logging.getLogger("nas")
    if not any(getattr(h, "_tfc_nas", False) for h in log.handlers):
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("tfc-nas: %(message)s"))
        h._tfc_nas = True
        log.addHandler(h)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    log.propagate = False


def resolve_config(args):
    """The run's config: a resumed run's own config.json (flags given again must match it, which
    RunDir checks), else --config or the defaults; flags override."""
    from nas.config import RunConfig, load_config
    from nas.errors import ResumeError
    stored = Path(args.out) / "config.json"
    if args.resume and not args.config:
        if not stored.is_file():
            raise ResumeError(f"{args.out} holds no run to resume", file=str(stored),
                              hint="drop --resume to start a new run there")
        try:
            base = RunConfig.from_dict(json.loads(stored.read_text()), str(stored))
        except ValueError as e:
            raise ResumeError(f"config.json is damaged: {e}", file=str(stored)) from None
    else:
        base = load_config(args.config)
    return base.with_overrides(data=args.data, target=args.target, flash_bytes=args.flash, sram_bytes=args.sram,
                               seed=args.seed)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "config":
        from nas.config import default_config_text
        sys.stdout.write(default_config_text())
        return 0
    configure_logging(args.quiet)
    try:
        from nas.pipeline import RunOptions, run_pipeline
        cfg = resolve_config(args)
        report = run_pipeline(cfg, args.out, resume=args.resume,
                              options=RunOptions(quiet=args.quiet, device=args.device, workers=args.workers,
                                                 ray=args.ray))
    except TfcError as e:
        if args.debug:
            traceback.print_exc()
        print(f"tfc-nas: error: {e.format()}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"\ntfc-nas: interrupted; continue with: tfc-nas run --out {args.out} --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    if report is not None:            # None: a non-zero rank of a torchrun launch
        from nas.report import summary
        print(summary(report, args.out))
    return 0
