"""The winner, made deployable: extract, prune blockwise, fine-tune with masks, export ONNX (dynamo),
compile with tfc, check tfc's numbers against the search's, and measure int8 accuracy.

The int8 model runs on the emulated Cortex-M7 when tfc's target runner is available (it builds the
ELF with tfc's linker script, whose sizes are then checked against the budget), else on the host
with gcc; `run_on` in the result says which.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from nas.cost import compile_cost, export_onnx
from nas.evolution import Genome
from nas.preprocessing import attach_to_onnx
from nas.prune import make_masks, measured_density
from nas.supernet import extract, recalibrate_bn
from nas.train import accuracy, finetune
from tfc.targets import Target

log = logging.getLogger("nas")
C_PROJECT = "c"          # the C project tfc generates, in the run directory


def _npy_bytes(a: np.ndarray) -> bytes:
    import io
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _finetuned(ctx, static, sparsity: dict, x_train) -> None:
    """Fine-tune the winner (all ranks of a torchrun launch), a checkpoint every epoch; a finished
    fine-tune (final.pt) or an interrupted one (the latest finetune-epoch-N.pt) is picked up."""
    from nas.pipeline import _progress
    cfg, run = ctx.cfg, ctx.run
    if run.has("final.pt"):
        static.load_state_dict(run.load_torch("final.pt"))
        return
    latest = run.latest("finetune-epoch-")
    state = run.load_torch(latest) if latest else None
    start = state["epoch"] + 1 if state else 0
    bar = _progress(total=cfg.finetune_epochs, initial=start, desc="fine-tune", disable=ctx.quiet)

    def on_epoch(epoch, snapshot):
        bar.update()
        if epoch + 1 < cfg.finetune_epochs:
            run.save_torch(f"finetune-epoch-{epoch:04d}.pt", _to_cpu(snapshot()))

    static.to(ctx.par.device)
    finetune(static, make_masks(static, sparsity), x_train, ctx.data.y_train, epochs=cfg.finetune_epochs, lr=cfg.finetune_lr,
             batch=cfg.batch, rng=np.random.default_rng(cfg.seed + 3), on_epoch=on_epoch,
             qat_epochs=cfg.qat_epochs, state=state, par=ctx.par, recipe=ctx.recipe, sparsity=sparsity,
             ramp=cfg.prune_ramp)
    static.cpu()
    bar.close()
    run.save_torch("final.pt", static.state_dict())
    ctx.par.barrier()


def _to_cpu(obj):
    """A checkpoint with every tensor on the CPU (optimizer state included)."""
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _static(ctx, net, arch, space):
    x = ctx.x("train", space.resolution)[:256]
    recalibrate_bn(net, arch, [torch.from_numpy(c) for c in np.array_split(x, 2)])
    net.eval()
    return extract(net, arch)


def finalize(ctx, space, net, search: dict) -> dict | None:
    """The deployable model and its measurements (None on the other ranks of a torchrun launch,
    which only help fine-tune)."""
    cfg, run = ctx.cfg, ctx.run
    winner = search["winner"]
    genome = Genome.from_dict(winner["genome"])
    res = space.resolution
    x_train, x_val, x_test = ctx.x("train", res), ctx.x("val", res), ctx.x("test", res)
    static = _static(ctx, net, genome.arch, space)
    _finetuned(ctx, static, genome.sparsity_dict(), x_train)
    if not ctx.par.is_main:
        return None
    float_val = accuracy(static, x_val, ctx.data.y_val)
    float_test = accuracy(static, x_test, ctx.data.y_test)
    pre = ctx.data.preprocessing.with_resolution(res)
    calibration = x_train[:128]
    if not run.has("preprocessing.json"):
        run.write_json("preprocessing.json", pre.to_dict())
    if not run.has("calibration.npy"):
        run.write_bytes("calibration.npy", _npy_bytes(calibration))

    onnx_path = run.file("model.onnx")
    if not onnx_path.exists():
        run.write_bytes("model.onnx", attach_to_onnx(export_onnx(static, torch.from_numpy(x_train[:1]), dynamo=True),
                                                     pre))
    cost, cm = compile_cost(onnx_path.read_bytes(), calibration, cfg.target)
    if cm is None or not cost.supported:
        from nas.errors import NasError
        raise NasError(f"tfc could not compile the searched model: {cost.note}", file=str(onnx_path))
    if not run.has(C_PROJECT):
        cm.save(run.file(C_PROJECT))
    result = {
        "genome": genome.to_dict(), "arch": genome.arch.key(),
        "search": {k: winner.get(k) for k in ("flash", "sram", "accuracy", "instructions",
                                              "instructions_as_compiled", "density")},
        "compiled": {"flash": cost.flash_bytes, "sram": cost.sram_bytes, "instructions": cost.instructions,
                     "instructions_as_compiled": cost.instructions_as_compiled, "sparse_layers": cost.sparse_layers,
                     "sparse_kernels": cost.sparse_kernels},
        "search_equals_compiled": cost.flash_bytes == winner["flash"] and cost.sram_bytes == winner["sram"],
        "measured_density": measured_density(static),
        "float_accuracy": {"val": float_val, "test": float_test},
        "report_table": cm.report.memory.table(),
        "preprocessing": pre.to_dict(),
        "deploy": {"c_project": str(run.file(C_PROJECT)), "onnx": str(onnx_path),
                   "calibration": str(run.file("calibration.npy")),
                   "command": f"tfc compile {onnx_path} --target {cfg.target} --calibration "
                              f"{run.file('calibration.npy')} -o DIR"},
    }
    result.update(_run_int8(ctx, cm, x_test, ctx.data.y_test))
    result["bench"] = _bench(ctx, cm, cost)
    dense = search.get("densest_equal_accuracy")
    if dense is not None and dense["key"] != winner["key"]:
        result["bench_densest"] = _bench_genome(ctx, space, net, Genome.from_dict(dense["genome"]))
    if not genome.is_dense:   # sparsity's own share: the same sub-network with every layer dense
        same = genome.densified()
        if dense is not None and dense["key"] == same.key():   # the densest comparison is that network
            result["bench_same_dense"] = result["bench_densest"]
        else:
            result["bench_same_dense"] = _bench_genome(ctx, space, net, same)
    result["searched_vs_densest"] = _comparison(winner, dense, result.get("bench"), result.get("bench_densest"),
                                                result.get("bench_same_dense"))
    if not run.has("compile.json"):
        run.write_json("compile.json", {k: v for k, v in result.items() if k != "report_table"})
    return result


def _comparison(winner: dict, dense: dict | None, bench: dict | None, bench_dense: dict | None,
                bench_same_dense: dict | None = None) -> dict:
    """The acceptance question in numbers: does the searched model, with tfc's sparse kernels, run in
    fewer instructions (measured by tfc bench) than the densest sub-network of equal accuracy? And
    how much of that is sparsity: the searched sub-network compiled dense."""
    out = {"searched_sparse_kernels": winner.get("sparse_kernels", 0), "searched_density": winner.get("density"),
           "densest_key": dense["key"] if dense else None, "densest_density": dense["density"] if dense else None}
    if dense is not None and dense["key"] == winner["key"]:
        out["note"] = "the searched model is itself the densest of equal accuracy"
    measured = [b.get("instructions") if b else None for b in (bench, bench_dense)]
    if all(measured):
        out.update(searched_instructions=measured[0], densest_instructions=measured[1],
                   speedup=measured[1] / measured[0], searched_is_faster=measured[0] < measured[1])
    same = (bench_same_dense or {}).get("instructions")
    if measured[0] and same:
        out.update(same_arch_dense_instructions=same, sparsity_speedup=same / measured[0])
    return out


def _bench(ctx, cm, cost) -> dict | None:
    """tfc bench on the emulated core: instructions per inference and the linked ELF's sizes."""
    if not Target.from_string(ctx.cfg.target).is_emulated:
        return None
    try:
        from tfc.bench import bench
        b = bench(cm).tfc
    except Exception as e:  # no toolchain/emulator, or a build failure: report, do not lose the run
        log.warning("tfc bench failed (%s: %s)", type(e).__name__, str(e).splitlines()[0])
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0]}"}
    return {"instructions": b.instructions, "estimate_as_compiled": cost.instructions_as_compiled,
            "estimate_error": (cost.instructions_as_compiled - b.instructions) / b.instructions,
            "elf_flash": b.flash.total, "elf_sram": b.sram.total_static, "stack_peak": b.sram.stack_peak,
            "elf_fits_budget": b.flash.total <= ctx.budget.flash_bytes and b.sram.total_static <= ctx.budget.sram_bytes}


def _bench_genome(ctx, space, net, genome: Genome) -> dict | None:
    """The same measurement for another genome (the densest of equal accuracy), not fine-tuned:
    instructions and sizes do not depend on the weight values beyond the zero pattern."""
    static = _static(ctx, net, genome.arch, space)
    from nas.prune import apply_masks
    apply_masks(make_masks(static, genome.sparsity_dict()))
    x = ctx.x("train", space.resolution)
    cost, cm = compile_cost(export_onnx(static, torch.from_numpy(x[:1]), dynamo=True), x[:128], ctx.cfg.target)
    if cm is None:
        return {"error": cost.note}
    out = _bench(ctx, cm, cost) or {}
    return {"key": genome.key(), "estimate": cost.instructions, **out}


def _run_int8(ctx, cm, x_test, y_test) -> dict:
    """int8 accuracy on the held-out test set: on the emulated core for a Cortex-M target (host
    gcc if that fails, saying why), on the host for the host target."""
    out: dict = {}
    y = None
    if Target.from_string(ctx.cfg.target).is_emulated:
        try:
            y = cm.run(x_test, on="target")[0]
            out["run_on"] = f"emulated {ctx.cfg.target} (QEMU)"
        except Exception as e:  # keep the run: fall back to the host and say why
            log.warning("emulated run failed (%s: %s); running on the host", type(e).__name__, e)
            out["emulator_error"] = f"{type(e).__name__}: {str(e).splitlines()[0]}"
    if y is None:
        y = cm.run(x_test, on="host")[0]
        out.setdefault("run_on", "host (gcc)")
    pred = np.asarray(y).reshape(len(y_test), -1).argmax(-1)
    out["int8_test_accuracy"] = float((pred == y_test).mean())
    return out
