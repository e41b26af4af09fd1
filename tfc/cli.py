"""The `tfc` command: `tfc inspect`, `tfc compile`, `tfc run`, `tfc bench`, `tfc passes`, `tfc targets`.

Every TfcError, and every file-system error, prints as one message on stderr and exits with code
2; anything else is a bug in tfc, said so, exit code 3. `--debug` shows the traceback (for
reporting a bug in tfc).
"""
from __future__ import annotations

import argparse
import sys
import traceback

from tfc.errors import TfcError

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3


def _input_shape(text: str) -> tuple[str, list[int]]:
    name, sep, dims = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        shape = [int(d) for d in dims.split(",")]
        if any(d <= 0 for d in shape):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=D0,D1,... with positive dims, got {text!r}") from None
    return name, shape


def _shapes(pairs) -> dict[str, list[int]] | None:
    return dict(pairs) if pairs else None


def cmd_inspect(args) -> int:
    from tfc.compiler import load_model
    from tfc.ir.text import print_graph
    graph = load_model(args.model, input_shapes=_shapes(args.input_shape))
    if args.pipeline:
        from tfc.passes import PassContext, PassManager
        PassManager(args.pipeline).run(graph, PassContext())
    sys.stdout.write(print_graph(graph, with_data=args.with_data))
    return 0


def _load_calibration(path: str):
    """Calibration samples from a .npy file ([N, *input shape]) or an .npz file (one array per input name)."""
    import numpy as np
    try:
        data = np.load(path)
    except (OSError, ValueError) as e:
        raise TfcError(f"cannot read calibration samples from {path}: {e}",
                       hint="give a .npy array [N, *input shape] or an .npz with one array per input") from None
    return dict(data) if hasattr(data, "files") else data


def _compile(args, **kw):
    """tfc.compile with the options every command shares; calibration errors name the file."""
    from tfc.compiler import compile
    from tfc.errors import QuantizationError
    calibration = _load_calibration(args.calibration) if args.calibration else None
    try:
        return compile(args.model, target=args.target, pipeline=args.pipeline,
                       input_shapes=_shapes(args.input_shape), calibration=calibration,
                       input_layout=args.input_layout, numerics=args.numerics, extra_macs=args.extra_macs, **kw)
    except QuantizationError as e:
        if args.calibration and e.file is None and "calibration" in e.message:
            raise QuantizationError(e.message, file=args.calibration, node=e.node, op=e.op, hint=e.hint) from None
        raise


def cmd_compile(args) -> int:
    import os

    from tfc.backends.cmsis.project_dir import check_project_folder
    if args.output:
        check_project_folder(args.output, force=args.force)   # before the work, not after
    _check_plot(args)
    cm = _compile(args, dump_ir=args.dump_ir, verbose=args.verbose)
    _write_plot(args, cm)
    if args.print_ir:
        print(cm.ir)
    print(f"compiled {args.model} for {cm.target.name} with pipeline: {cm.pipeline}")
    print(cm.report)
    if cm.dumps:
        print(f"\nIR dumps: {', '.join(str(p) for p in cm.dumps)}")
    if args.output:
        protect = [args.model] if os.path.exists(args.model) else []
        info = cm.save(args.output, name=args.name, force=args.force, protect=protect)
        print(f"\nC project: {info.path} ({len(info.files)} files; API tfc_{info.name}_run in model.h; "
              f"build on this machine with: make -C {info.path})")
    if args.plot:
        print(f"\nwrote {args.plot}")
    return 0   # with -v, tfc.compile has logged each rewrite that did not fire (once, on stderr)


def cmd_run(args) -> int:
    import numpy as np

    try:
        x = np.load(args.input, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise TfcError(f"cannot read the input array: {e}", file=args.input,
                        hint="give a .npy file: one sample, or a batch with a leading sample axis") from None
    if args.output:
        _check_output_file(args.output)
    cm = _compile(args)
    outputs = cm.run(x, raw=args.raw, on=args.on)
    if args.output:
        np.save(args.output, outputs[0]) if len(outputs) == 1 else np.savez(args.output, *outputs)
        print(f"wrote {args.output}")
    else:
        with np.printoptions(threshold=200, linewidth=110):
            for spec, out in zip(cm.ir.outputs, outputs):
                print(f"{spec.name}: {out.dtype}{list(out.shape)}")
                print(out)
    return 0


def _check_output_file(path: str) -> None:
    """Refuse an output file that cannot be written before any build (not after minutes of it)."""
    import os
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise TfcError(f"{path} is a folder", hint="give a file name for the outputs (.npy or .npz)")
    if not os.path.isdir(folder):
        raise TfcError(f"cannot write {path}: {folder} is not a folder",
                       hint="give a file in an existing folder")
    if not os.access(folder, os.W_OK):
        raise TfcError(f"cannot write {path}: the folder {folder} is not writable")


def _check_plot(args) -> None:
    if args.plot:
        from tfc.tile_plot import check_plot_file
        check_plot_file(args.plot)


def _write_plot(args, cm) -> None:
    """--plot: the tile pass's peak-SRAM vs extra-MACs curve (before a long bench, so a model with
    no schedules to plot fails fast)."""
    if args.plot:
        from tfc.tile_plot import plot_schedules
        base, candidates = cm.findings.get("tile", (0, ()))
        plot_schedules(args.plot, base, candidates, f"{cm.name} on {cm.target.name}")


_FROM_ENVIRONMENT = "$CMSIS_NN_ROOT"


def cmd_bench(args) -> int:
    import json
    import os

    from tfc.bench import bench, bench_json, format_bench
    inputs = None
    if args.input:
        import numpy as np
        try:
            inputs = np.load(args.input, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise TfcError(f"cannot read the input array: {e}", file=args.input,
                           hint="give a .npy file of raw int8 samples with a leading sample axis") from None
    if args.json:
        _check_output_file(args.json)
    _check_plot(args)
    cmsis_nn = args.cmsis_nn
    if cmsis_nn == _FROM_ENVIRONMENT:   # --cmsis-nn without a path: asked for, path from the shell
        cmsis_nn = os.environ.get("CMSIS_NN_ROOT")
        if not cmsis_nn:
            raise TfcError("--cmsis-nn without a path needs CMSIS_NN_ROOT set",
                           hint="give the CMSIS-NN checkout: --cmsis-nn /path/to/CMSIS-NN")
    cm = _compile(args)
    _write_plot(args, cm)
    result = bench(cm, cmsis_nn_root=cmsis_nn, inputs=inputs, samples=args.samples)
    print(format_bench(result))
    if args.json:
        with open(args.json, "w", encoding="ascii") as f:
            json.dump(bench_json(result), f, indent=1)
            f.write("\n")
        print(f"\nwrote {args.json}")
    if args.plot:
        print(f"\nwrote {args.plot}")
    return 0


def cmd_passes(args) -> int:
    from tfc.passes import default_pipeline, format_pipeline, registered_passes
    from tfc.passes.plugins import pass_origin
    passes = registered_passes()
    width = max(len(n) for n in passes)
    by_origin: dict[str, list[str]] = {}
    for name, cls in passes.items():
        by_origin.setdefault(pass_origin(cls), []).append(f"{name:<{width}}  {cls.description}")
    for i, origin in enumerate(sorted(by_origin, key=lambda o: (o != "built-in", o))):
        print(("\n" if i else "") + ("built-in passes:" if origin == "built-in" else f"from {origin}:"))
        print("\n".join(by_origin[origin]))
    print(f"\ndefault pipeline: {format_pipeline(default_pipeline())}")
    return 0


def _add_plugin_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (a dotted name importable from here, or a .py file) so the "
                        "passes it registers can be named in --pipeline (repeatable)")


def _add_model_options(p) -> None:
    """Options of every command that compiles a model: calibration samples and the API's layout."""
    p.add_argument("--calibration", metavar="FILE.npy",
                   help="samples for post-training quantization of a float model ([N, *input shape]; "
                        ".npz: one array per input name)")
    p.add_argument("--input-layout", choices=("nchw", "nhwc"),
                   help="layout of the 4-D inputs and outputs of the generated API (default: the model's "
                        "own); nhwc takes camera/audio HWC buffers with no transpose at the boundary")
    p.add_argument("--numerics", choices=("auto", "cmsis", "onnxruntime"), default="auto",
                   help="whose int8 arithmetic the kernels reproduce: cmsis (TFLite Micro's fixed point, the "
                        "faster kernels) or onnxruntime (bit-exact with onnxruntime); auto (default): "
                        "onnxruntime's for a model onnxruntime.quantization wrote, else TFLite Micro's but "
                        "for the pure requantizations of other QDQ files (docs/ir.md)")
    p.add_argument("--extra-macs", type=float, metavar="FRACTION",
                   help="run the first layers in fused tiles (bands of rows) for a smaller arena, "
                        "recomputing at most this fraction of the model's MACs (e.g. 0.10; 0: only "
                        "schedules that add none); default: 0 where the untiled arena does not fit the "
                        "target's SRAM, else no tiling")


def _load_plugins(args) -> None:
    from tfc.passes.plugins import load_plugin
    for spec in getattr(args, "plugin", ()):
        load_plugin(spec)


def cmd_ops(args) -> int:
    """Every IR op with its traits and the int8 kernels that may run it (tfc.kernels' registry)."""
    from tfc.ir.ops import op_traits, registered_ops
    from tfc.kernels import kernels_for
    for name, spec in registered_ops().items():
        kernels = ", ".join(f"{k.name} ({k.function or 'no code'})" for k in kernels_for(name)) or "-"
        print(f"{name}")
        print(f"    traits:  {', '.join(op_traits(spec)) or '-'}")
        print(f"    int8:    {kernels}")
    return 0


def cmd_targets(args) -> int:
    from tfc.targets import TARGETS
    for name, t in TARGETS.items():
        print(f"{name:<10}  {t.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfc", description="tfc, the TinyFormer compiler")
    from tfc import __version__
    parser.add_argument("--debug", action="store_true", help="show tracebacks (for bug reports)")
    parser.add_argument("--version", action="version", version=f"tfc {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("inspect", help="import a model and print its IR")
    p.add_argument("model", help="an .onnx model or a .tfcir file")
    p.add_argument("--input-shape", action="append", type=_input_shape, metavar="NAME=D0,D1,...",
                   help="static shape of an input with unknown dims (repeatable)")
    p.add_argument("--pipeline", help="run these passes first, e.g. canonicalize")
    p.add_argument("--with-data", action="store_true", help="include the constants' bytes (replayable)")
    _add_plugin_option(p)
    p.set_defaults(run=cmd_inspect)

    p = sub.add_parser("compile", help="compile a model and print its report")
    p.add_argument("model", help="an .onnx model or a .tfcir file")
    p.add_argument("--target", default="cortex-m7", help="cortex-m7 (default), cortex-m4, cortex-m55 or host (tfc targets lists them)")
    p.add_argument("--dump-ir", metavar="DIR", help="write the IR before and after each pass to DIR")
    p.add_argument("--pipeline", help="passes to run, e.g. 'canonicalize,sparsify{block=4}'")
    p.add_argument("--input-shape", action="append", type=_input_shape, metavar="NAME=D0,D1,...",
                   help="static shape of an input with unknown dims (repeatable)")
    _add_model_options(p)
    p.add_argument("--print-ir", action="store_true", help="print the final IR")
    p.add_argument("-o", "--output", metavar="OUTDIR", help="write the C project to OUTDIR")
    p.add_argument("--force", action="store_true",
                   help="write the project into OUTDIR even if it holds files tfc did not write (files "
                        "with the names tfc writes are replaced, all others kept)")
    p.add_argument("--name", help="C name of the model (API tfc_<name>_run); default: the file's stem")
    p.add_argument("--plot", metavar="FILE.png",
                   help="also draw the peak SRAM (arena) against the extra MACs of the fused-tile "
                        "schedules weighed, as a PNG (needs matplotlib: pip install 'tfc[plot]'); an "
                        "existing file is replaced only if tfc wrote it")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="log each pass with its stats and notes, and the rewrites that declined to fire, "
                        "with why")
    _add_plugin_option(p)
    p.set_defaults(run=cmd_compile)

    p = sub.add_parser("run", help="compile a model, build the C and run it: on the emulated Cortex-M "
                                   "(QEMU) for a Cortex-M target, with gcc on this machine for host")
    p.add_argument("model", help="an .onnx model or a .tfcir file")
    p.add_argument("--input", required=True, metavar="FILE.npy",
                   help="one sample, or a batch with a leading sample axis (float, or int8 with --raw)")
    p.add_argument("--raw", action="store_true", help="int8 in and out (no (de)quantization)")
    p.add_argument("--output", metavar="FILE", help="save the outputs (.npy; .npz for several outputs)")
    p.add_argument("--target", default="cortex-m7", help="cortex-m7 (default), cortex-m4, cortex-m55 or host (tfc targets lists them)")
    p.add_argument("--on", choices=("target", "host"),
                   help="where to run: 'target' (the emulated core; default for Cortex-M targets) or "
                        "'host' (gcc on this machine)")
    p.add_argument("--pipeline", help="passes to run (default: the standard pipeline)")
    p.add_argument("--input-shape", action="append", type=_input_shape, metavar="NAME=D0,D1,...",
                   help="static shape of an input with unknown dims (repeatable)")
    _add_plugin_option(p)
    _add_model_options(p)
    p.set_defaults(run=cmd_run)

    p = sub.add_parser("bench", help="measure a model on the emulated Cortex-M: instructions per layer, "
                                     "flash and SRAM")
    p.add_argument("model", help="an .onnx model or a .tfcir file")
    p.add_argument("--target", default="cortex-m7", help="cortex-m7 (default), cortex-m4 or cortex-m55: an emulated target")
    p.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    p.add_argument("--plot", metavar="FILE.png",
                   help="also draw the peak SRAM (arena) against the extra MACs of the fused-tile "
                        "schedules weighed, as a PNG (needs matplotlib: pip install 'tfc[plot]'); an "
                        "existing file is replaced only if tfc wrote it")
    p.add_argument("--cmsis-nn", metavar="PATH", nargs="?", const=_FROM_ENVIRONMENT,
                   help="also build against Arm's CMSIS-NN checkout at PATH (no PATH: $CMSIS_NN_ROOT) "
                        "and compare per layer; without this option nothing links CMSIS-NN, whatever "
                        "the shell exports")
    p.add_argument("--input", metavar="FILE.npy", help="raw int8 samples [N, *shape] (default: random, seed 0)")
    p.add_argument("--samples", type=int, default=1, help="random samples to average over (default 1)")
    p.add_argument("--pipeline", help="passes to run (default: the standard pipeline)")
    p.add_argument("--input-shape", action="append", type=_input_shape, metavar="NAME=D0,D1,...",
                   help="static shape of an input with unknown dims (repeatable)")
    _add_plugin_option(p)
    _add_model_options(p)
    p.set_defaults(run=cmd_bench)

    p = sub.add_parser("passes", help="list the registered passes")
    _add_plugin_option(p)
    p.set_defaults(run=cmd_passes)

    p = sub.add_parser("ops", help="list the IR ops, their traits and their int8 kernels")
    p.set_defaults(run=cmd_ops)

    p = sub.add_parser("targets", help="list the targets")
    p.set_defaults(run=cmd_targets)
    return parser


# Errors are written for Python callers; on the command line the same advice names the flags.
_CLI_WORDS = (("calibration=<array of sample inputs> to tfc.compile (or --calibration FILE.npy)",
               "--calibration FILE.npy (samples [N, *input shape])"),
              ("with raw=True", "with --raw"), ("raw=True", "--raw"),
              ("--force (save(..., force=True))", "--force"))


def _cli_words(text: str) -> str:
    for python, flag in _CLI_WORDS:
        text = text.replace(python, flag)
    return text


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _load_plugins(args)
        return args.run(args)
    except TfcError as e:
        if args.debug:
            traceback.print_exc()
        print(f"tfc: error: {_cli_words(str(e))}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as e:  # the file system said no (a read-only folder, a full disk, ...)
        if args.debug:
            traceback.print_exc()
        where = f"file {e.filename}: " if e.filename else ""
        print(f"tfc: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("tfc: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - anything else is tfc's fault: say so, once
        if args.debug:
            traceback.print_exc()
        print(f"tfc: internal error: {type(e).__name__}: {e}\n"
              f"  this is a bug in tfc: please report it with the command line ({' '.join(sys.argv)}) "
              "and the model; `tfc --debug ...` shows the traceback", file=sys.stderr)
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
