"""The whole run, as resumable steps in a run directory:

  1 supernas.json          SuperNAS: the chosen search space and every candidate's score
  2 supernet-epoch-N.pt    supernet training checkpoints (model, optimizer, RNG), then supernet.pt
  3 sparsenas-gen-N.json   SparseNAS generations (population, every evaluation, RNG), then sparsenas.json
  4 finetune-epoch-N.pt    fine-tuning checkpoints (every epoch), then final.pt: the winner, pruned
                           and fine-tuned with its masks
  5 model.onnx (preprocessing in its metadata), preprocessing.json, calibration.npy, c/ (the C
    project), compile.json, report.json / report.md / pareto.png

A finished step is read back instead of recomputed; nothing is overwritten.
"""
from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from nas import data as data_mod
from nas.checkpoint import RunDir
from nas.config import RunConfig
from nas.cost import Budget, TfcCostModel
from nas.distributed import Parallel, setup, teardown
from nas.errors import BudgetError
from nas.evolution import Genome
from nas.space import SearchSpace, candidate_spaces
from nas.supernas import choose_space, score_space
from nas.supernet import SuperNet

log = logging.getLogger("nas")
DENSE_BASELINE_WITHIN = 0.005   # the dense baseline: within half a point of the searched model's accuracy


def _progress(iterable=None, **kw):
    from tqdm.auto import tqdm
    return tqdm(iterable, dynamic_ncols=True, leave=False, **kw)


def make_budget(cfg: RunConfig) -> Budget:
    """The budget, refused at once when the reserves for code and stack leave nothing for the model."""
    from tfc.targets import Target
    t = Target.from_string(cfg.target)
    b = Budget(cfg.flash_bytes or t.flash_bytes, cfg.sram_bytes or t.sram_bytes, cfg.flash_reserve, cfg.sram_reserve,
               cfg.sparse_code_reserve)
    for memory, total, reserve, key, flag in (("flash", b.flash_bytes, b.flash_reserve, "flash_reserve", "--flash"),
                                              ("SRAM", b.sram_bytes, b.sram_reserve, "sram_reserve", "--sram")):
        if total <= reserve:
            raise BudgetError(f"the {memory} budget ({total:,} B) is not above the {reserve:,} B reserved for "
                              f"{'code (the linked kernels, start-up and driver)' if memory == 'flash' else 'the stack and static data'}"
                              f" ({key}): no room for the model", hint=f"raise {flag} above {reserve:,} B or lower "
                              f"{key} in the config")
    return b


@dataclass(frozen=True)
class RunOptions:
    """How a run is carried out; none of it changes the searched model (so not in the config)."""
    quiet: bool = False
    device: str | None = None        # None: CUDA when available
    workers: int | None = None       # candidate-evaluation processes (None: 1), or Ray actors (None: 1 per CPU)
    ray: str | None = None           # a Ray address (nas.ray_cluster): candidate evaluation on that cluster


@dataclass
class Context:
    cfg: RunConfig
    run: RunDir
    data: data_mod.Dataset
    budget: Budget
    quiet: bool = False
    timings: dict | None = None
    par: Parallel = field(default_factory=Parallel)
    workers: int | None = None
    ray: bool = False
    _resized: dict = field(default_factory=dict)

    def x(self, split: str, resolution: int) -> np.ndarray:
        key = (split, resolution)
        if key not in self._resized:
            self._resized[key] = data_mod.resized(getattr(self.data, f"x_{split}"), resolution)
        return self._resized[key]

    @property
    def recipe(self):
        """Augmentation and loss of every training step (nas.train.Recipe), from the config and the data."""
        from nas.train import Recipe
        return Recipe(flip=self.data.flip if self.cfg.flip is None else self.cfg.flip,
                      label_smoothing=self.cfg.label_smoothing)

    def on_main(self, compute, read):
        """`compute()` on rank 0; the other ranks wait for it and `read()` what it wrote."""
        out = compute() if self.par.is_main else None
        self.par.barrier()
        return out if self.par.is_main else read()


def run_pipeline(cfg: RunConfig, out, *, resume: bool = False, options: RunOptions = RunOptions()) -> dict | None:
    """The whole run; the report (None on the other ranks of a torchrun launch). The target, the
    budget and the data are checked before `out` is created."""
    torch.set_num_threads(1)     # 2 threads on a shared 2-core machine spin-wait: measured 6x slower
    if options.ray:
        from nas.ray_cluster import require_ray
        require_ray()
    budget = make_budget(cfg)
    ds = data_mod.load(cfg.data, seed=cfg.seed, limit=cfg.train_limit)
    par = setup(options.device)
    ray_session = None
    try:
        if options.ray and par.is_main:       # a bad address fails now, not after training the supernet
            from nas.ray_cluster import connect
            ray_session = connect(options.ray, options.workers)
        run = RunDir(out, cfg, resume=resume) if par.is_main else None
        par.barrier()
        run = run or RunDir(out, cfg, resume=True, writer=False)
        if not par.is_main:
            log.setLevel(logging.WARNING)     # rank 0 tells the story
        ctx = Context(cfg.for_data(len(ds.y_train), max(ds.x_train.shape[2:])), run, ds, budget,
                      options.quiet or not par.is_main, {}, par, options.workers, ray_session is not None)
        log.info("%s; budget %s; device %s%s%s", ds.summary(), budget.describe(), par.device,
                 f", {par.world} processes" if par.world > 1 else "",
                 f"; candidates evaluated on Ray ({options.ray})" if ray_session else "")
        c = ctx.cfg
        log.info("schedule for this data: resolutions %s, width_mults %s, supernet %d epochs, finalists %d, "
                 "fine-tune %d (%d QAT)", c.resolutions, c.width_mults, c.epochs, c.finalist_epochs,
                 c.finetune_epochs, c.qat_epochs)
        t0 = time.time()
        space = _timed(ctx, "supernas", step_supernas)
        net = _timed(ctx, "supernet", lambda c: step_supernet(c, space))
        search = _timed(ctx, "sparsenas", lambda c: step_sparsenas(c, space, net))
        final = _timed(ctx, "finalize", lambda c: step_finalize(c, space, net, search))
        if not par.is_main:
            return None
        from nas.report import write_report
        return write_report(ctx, space, search, final, time.time() - t0)
    finally:
        if ray_session is not None:
            ray_session.close()
        teardown(par)


def _timed(ctx: Context, name: str, fn):
    """Run a step; its wall time in `ctx.timings[name]`, and the CPU seconds of this process and of
    its finished child processes (compilers, the emulator, evaluation workers) in
    `ctx.timings[name + "_cpu"]`: on a shared machine those say what the step costs."""
    t, c = time.time(), _cpu_seconds()
    out = fn(ctx)
    ctx.timings[name] = round(time.time() - t, 1)
    ctx.timings[name + "_cpu"] = round(_cpu_seconds() - c, 1)
    log.info("step %s: %.1f s wall, %.1f CPU-s", name, ctx.timings[name], ctx.timings[name + "_cpu"])
    return out


def _cpu_seconds() -> float:
    import resource
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _calibration(ctx: Context, resolution: int) -> np.ndarray:
    return ctx.x("train", resolution)[:64]


# ------------------------------------------------------------------------------ 1: SuperNAS
def step_supernas(ctx: Context) -> SearchSpace:
    return ctx.on_main(lambda: _supernas(ctx),
                       lambda: SearchSpace.from_dict(ctx.run.read_json("supernas.json")["chosen"]))


def _supernas(ctx: Context) -> SearchSpace:
    if ctx.run.has("supernas.json"):
        return SearchSpace.from_dict(ctx.run.read_json("supernas.json")["chosen"])
    cfg = ctx.cfg
    spaces = candidate_spaces(in_channels=ctx.data.in_channels, num_classes=ctx.data.num_classes,
                              resolutions=cfg.resolutions, width_mults=cfg.width_mults,
                              transformer_starts=cfg.transformer_starts)
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    scores = []
    for space in _progress(spaces, desc="SuperNAS", disable=ctx.quiet):
        cm = TfcCostModel(cfg.target, _calibration(ctx, space.resolution))
        scores.append(score_space(space, ctx.budget, cm, _calibration(ctx, space.resolution),
                                  cfg.supernas_samples, rng))
    best, values = choose_space(scores, ctx.budget)
    ctx.run.write_json("supernas.json", {"chosen": best.space.to_dict(),
                                          "candidates": [s.to_dict(v) for s, v in zip(scores, values)]})
    return best.space


# ------------------------------------------------------------------------- 2: supernet training
def step_supernet(ctx: Context, space: SearchSpace) -> SuperNet:
    from nas.train import channels_last, train_supernet_epoch
    cfg = ctx.cfg
    net = SuperNet(space)
    if ctx.run.has("supernet.pt"):
        net.load_state_dict(ctx.run.load_torch("supernet.pt"))
        return net
    torch.manual_seed(cfg.seed)
    net = channels_last(SuperNet(space).to(ctx.par.device))
    x, y = ctx.x("train", space.resolution), ctx.data.y_train
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    steps = -(-len(y) // cfg.batch)           # the schedule steps per batch (few epochs: one cycle still)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps, pct_start=0.15)
    rng, arch_rng, start = np.random.default_rng(cfg.seed), random.Random(cfg.seed + 1), 0
    latest = ctx.run.latest("supernet-epoch-")
    if latest:
        ck = ctx.run.load_torch(latest)
        net.load_state_dict(ck["net"]); opt.load_state_dict(ck["opt"]); sched.load_state_dict(ck["sched"])  # noqa: E702
        rng.bit_generator.state = ck["np_rng"]; arch_rng.setstate(ck["arch_rng"]); start = ck["epoch"] + 1
        torch.set_rng_state(ck["torch_rng"])
    bar = _progress(range(start, cfg.epochs), desc="supernet", disable=ctx.quiet, initial=start, total=cfg.epochs)
    every = max(1, cfg.epochs // 5)
    for epoch in bar:
        loss = train_supernet_epoch(net, opt, x, y, batch=cfg.batch, n_random=cfg.n_random, n_sparse=cfg.n_sparse,
                                    rng=rng, arch_rng=arch_rng, par=ctx.par, recipe=ctx.recipe, on_step=sched.step)
        bar.set_postfix(loss=f"{loss:.3f}")
        if (epoch + 1) % every == 0 and epoch + 1 < cfg.epochs:
            ctx.run.save_torch(f"supernet-epoch-{epoch:04d}.pt", {
                "net": _cpu(net.state_dict()), "opt": opt.state_dict(), "sched": sched.state_dict(), "epoch": epoch,
                "np_rng": rng.bit_generator.state, "arch_rng": arch_rng.getstate(), "torch_rng": torch.get_rng_state()})
    net = channels_last(net.cpu(), False)
    ctx.run.save_torch("supernet.pt", net.state_dict())
    ctx.par.barrier()
    if not ctx.par.is_main:            # rank 0's weights (the others' BatchNorm statistics are their shards')
        net.load_state_dict(ctx.run.load_torch("supernet.pt"))
    return net


def _cpu(state: dict) -> dict:
    return {k: v.cpu() for k, v in state.items()}


# ------------------------------------------------------------------------------ 3: SparseNAS
def _json_state(state):
    return [state[0], list(state[1]), state[2]]


def _py_state(state):
    return (state[0], tuple(state[1]), state[2])


def step_sparsenas(ctx: Context, space: SearchSpace, net: SuperNet) -> dict:
    return ctx.on_main(lambda: _sparsenas(ctx, space, net), lambda: ctx.run.read_json("sparsenas.json"))


def _sparsenas(ctx: Context, space: SearchSpace, net: SuperNet) -> dict:
    from nas.sparsenas import Evaluator
    if ctx.run.has("sparsenas.json"):
        return ctx.run.read_json("sparsenas.json")
    cfg = ctx.cfg
    res = space.resolution
    ev = Evaluator(net, ctx.budget, TfcCostModel(cfg.target, _calibration(ctx, res)),
                   ctx.x("train", res)[:256], ctx.x("val", res)[:cfg.val_limit], ctx.data.y_val[:cfg.val_limit],
                   workers=ctx.workers if ctx.ray else ctx.workers or 1, ray=ctx.ray)
    try:
        result = _evolve(ctx, space, ev)
    except BaseException:
        ev.close(terminate=True)
        raise
    ev.close()
    return result


def _evolve(ctx: Context, space: SearchSpace, ev) -> dict:
    from nas.sparsenas import fitness, initial_population, next_generation
    cfg, res = ctx.cfg, space.resolution
    rng = random.Random(cfg.seed + 2)
    torch.manual_seed(cfg.seed)
    latest, start = ctx.run.latest("sparsenas-gen-"), 0
    if latest:
        ck = ctx.run.read_json(latest)
        pop = [Genome.from_dict(g) for g in ck["population"]]
        ev.records = {r["key"]: r for r in ck["records"]}
        rng.setstate(_py_state(ck["rng"]))
        reference, start = ck["reference"], ck["generation"] + 1
    else:
        pop = initial_population(space, cfg.population, rng)
        recs = ev.evaluate_many(pop)
        ok = [r["instructions"] for r in recs if r["fits"]]
        if not ok:
            smallest = min(recs, key=lambda r: (r["flash"], r["sram"]))
            raise BudgetError(f"no sub-network of space {space.name} meets the budget ({ctx.budget.describe()}); the "
                              f"smallest needs flash {smallest['flash']:,} B, SRAM {smallest['sram']:,} B "
                              f"{'(' + smallest['note'] + ')' if smallest['note'] else ''}",
                              hint="raise --flash/--sram or lower the reserves")
        reference = float(np.median(ok))
    bar = _progress(range(start, cfg.generations), desc="SparseNAS", disable=ctx.quiet, initial=start,
                    total=cfg.generations)
    for gen in bar:
        pop = next_generation(pop, ev, space, rng, mutation_p=cfg.mutation_p, reference=reference,
                              weight=cfg.instruction_weight)
        ev.evaluate_many(pop)
        best = max(pop, key=lambda g: fitness(ev.evaluate(g), reference, cfg.instruction_weight))
        bar.set_postfix(acc=f"{ev.evaluate(best).get('accuracy', 0):.3f}")
        ctx.run.write_json(f"sparsenas-gen-{gen:03d}.json", {
            "generation": gen, "population": [g.to_dict() for g in pop], "records": list(ev.records.values()),
            "rng": _json_state(rng.getstate()), "reference": reference})
    refined = _refine(ctx, ev, torch.from_numpy(ctx.x("val", res)[:1]))
    records = list(ev.records.values())
    from nas.sparsenas import densest_of_equal_accuracy, select_winner
    best = select_winner(records, cfg.accuracy_tolerance)
    finalists = _finalists(ctx, ev, records, refined, res)
    dense = None
    if finalists:
        from nas.finalists import choose, dense_baseline
        chosen = choose(finalists, cfg.accuracy_tolerance)
        if chosen is not None:
            best = {**ev.records[chosen["key"]], "finetuned_accuracy": chosen["finetuned_accuracy"]}
            base = dense_baseline(finalists, best, DENSE_BASELINE_WITHIN)
            if base is not None:
                dense = {**ev.records[base["key"]], "finetuned_accuracy": base["finetuned_accuracy"]}
        records = list(ev.records.values())     # the finalists' dense versions joined them
    comparison = ("the fastest finalist fine-tuned dense within %g point of the searched model's fine-tuned accuracy"
                  % (100 * DENSE_BASELINE_WITHIN) if dense else
                  "the densest record at least as accurate (supernet accuracy, not fine-tuned)")
    result = {"winner": best, "finalists": finalists, "records": records, "reference_instructions": reference,
              "densest_equal_accuracy": dense or densest_of_equal_accuracy(records, best["accuracy"]),
              "comparison": comparison,
              "estimator": "nas.kernel_costs (fitted to tfc bench) + tfc.sparse.cost_model for sparse layers",
              "tfc_compiles": ev.cost_model.compiles}
    ctx.run.write_json("sparsenas.json", result)
    return result


def _refine(ctx: Context, ev, example) -> list[dict]:
    """Sparsify the fastest sub-networks of the accuracy band layer by layer (nas.refine); the
    refined genomes join the records the winner is chosen from, and the refined record of each is
    returned: a layer's lower density is kept while the supernet's un-fine-tuned accuracy stays
    within `refine_slack` below the band, since the finalists' fine-tune (gradual pruning) judges it."""
    from nas.evolution import Genome
    from nas.refine import candidates, layers_by_work, refine
    from nas.sparsenas import accuracy_floor
    records = list(ev.records.values())
    floor = accuracy_floor(records, ctx.cfg.accuracy_tolerance)
    if floor is None or ctx.cfg.refine_archs <= 0:
        return []
    return [refine(ev, start, floor - ctx.cfg.refine_slack, layers_by_work(ev, Genome.from_dict(start["genome"]), example))
            for start in _progress(candidates(records, floor, ctx.cfg.refine_archs), desc="refine", disable=ctx.quiet)]


def _finalists(ctx: Context, ev, records: list[dict], refined: list[dict], res: int) -> list[dict]:
    """The fastest sub-networks of the accuracy band (the refined record where refinement made a
    faster one), fine-tuned briefly dense and sparse (nas.finalists); kept in finalists.json."""
    from nas.finalists import judge
    from nas.sparsenas import accuracy_floor
    if ctx.run.has("finalists.json"):
        return ctx.run.read_json("finalists.json")
    floor = accuracy_floor(records, ctx.cfg.accuracy_tolerance)
    cfg = ctx.cfg
    if floor is None or cfg.finalists <= 0 or cfg.finalist_epochs <= 0:
        return []
    out = judge(ev, records, floor, refined=refined, n=cfg.finalists, epochs=cfg.finalist_epochs, lr=cfg.finetune_lr,
                batch=cfg.batch, seed=cfg.seed + 4, x_train=ctx.x("train", res), y_train=ctx.data.y_train,
                device=ctx.par.device, recipe=ctx.recipe, ramp=cfg.prune_ramp, density=cfg.finalist_density,
                dw_density=cfg.finalist_dw_density,
                x_val=ctx.x("val", res), y_val=ctx.data.y_val, progress=lambda it: _progress(it, desc="finalists", disable=ctx.quiet))
    ctx.run.write_json("finalists.json", out)
    return out


# -------------------------------------------------------------------- 4-5: the deployable model
def step_finalize(ctx: Context, space: SearchSpace, net: SuperNet, search: dict) -> dict:
    from nas.finalize import finalize
    return finalize(ctx, space, net, search)
