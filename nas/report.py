"""The run's report: report.json (everything), report.md (a summary) and pareto.png."""
from __future__ import annotations

import json

from nas.sparsenas import densest_of_equal_accuracy, pareto_front


FIELDS = ("key", "accuracy", "instructions", "instructions_as_compiled", "flash", "sram", "density", "sparse_layers",
          "sparse_kernels")


def write_report(ctx, space, search: dict, final: dict, seconds: float) -> dict:
    records = search["records"]
    winner = search["winner"]
    dense = search.get("densest_equal_accuracy") or densest_of_equal_accuracy(records, winner["accuracy"])
    front = pareto_front(records)
    supernas = ctx.run.read_json("supernas.json")
    report = {
        "config": ctx.cfg.to_dict(), "data": ctx.data.summary(), "budget": ctx.budget.describe(),
        "preprocessing": final.get("preprocessing"), "deploy": final.get("deploy"),
        "space": space.name, "supernas": [{k: c[k] for k in ("fit_fraction", "mean_fit_macs", "score")}
                                          | {"space": c["space"]["name"]} for c in supernas["candidates"]],
        "estimator": search["estimator"], "comparison": search.get("comparison"),
        "evaluated": len(records), "feasible": sum(r["fits"] for r in records), "tfc_compiles": search["tfc_compiles"],
        "winner": {k: winner.get(k) for k in FIELDS},
        "densest_equal_accuracy": {k: dense.get(k) for k in FIELDS} if dense else None,
        "pareto": [{k: r[k] for k in ("key", "accuracy", "instructions", "flash", "sram")} for r in front],
        "finalists": search.get("finalists") or [],
        "final": {k: v for k, v in final.items() if k != "report_table"},
        "seconds": {**ctx.timings, "total": round(seconds, 1),
                    "total_cpu": round(sum(v for k, v in ctx.timings.items() if k.endswith("_cpu")), 1)},
    }
    name = "report.json"
    if not ctx.run.has(name):
        ctx.run.write_json(name, report)
    if not ctx.run.has("pareto.png"):
        from nas.sparsenas import accuracy_floor
        floor = accuracy_floor(records, ctx.cfg.accuracy_tolerance)
        band = (floor, floor + ctx.cfg.accuracy_tolerance) if floor is not None else None
        _plot(ctx.run.file("pareto.png"), records, front, winner, dense, band)
    if not ctx.run.has("report.md"):
        ctx.run.write_bytes("report.md", _markdown(report, final).encode())
    return report


def _plot(path, records, front, winner, dense, band: tuple[float, float] | None = None) -> None:
    """Accuracy vs instructions of the feasible genomes, the 2-D front as a staircase, zoomed to the
    accuracy band (`band`: its lower and upper edge) with a margin; points below are counted."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ok = [r for r in records if r["fits"]]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    sc = ax.scatter([r["instructions"] / 1e6 for r in ok], [100 * r["accuracy"] for r in ok],
                    c=[r["flash"] / 1024 for r in ok], s=[8 + r["sram"] / 1024 for r in ok], cmap="viridis",
                    alpha=0.7)
    fig.colorbar(sc, label="flash (KiB, tfc)")
    ax.plot([r["instructions"] / 1e6 for r in front], [100 * r["accuracy"] for r in front], "r-", lw=1,
            drawstyle="steps-post", label="Pareto front (accuracy, instructions)")
    ax.scatter([winner["instructions"] / 1e6], [100 * winner["accuracy"]], marker="*", s=220, c="red",
               label="searched")
    if dense:
        ax.scatter([dense["instructions"] / 1e6], [100 * dense["accuracy"]], marker="s", s=90,
                   facecolors="none", edgecolors="k", label="densest of equal accuracy")
    title = "SparseNAS: feasible sub-networks (marker size ~ SRAM)"
    if band is not None:
        lo, hi = band
        margin = max(hi - lo, 0.005)
        ax.set_ylim(100 * (lo - 2 * margin), 100 * (hi + margin / 2))
        below = sum(r["accuracy"] < lo - 2 * margin for r in ok)
        if below:
            title += f"; {below} below the view"
    ax.set_xlabel("instructions (M, estimated)")
    ax.set_ylabel("supernet accuracy after pruning (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _markdown(r: dict, final: dict) -> str:
    f = final
    d = r["densest_equal_accuracy"]
    w = r["winner"]
    pre = f.get("preprocessing")
    lines = ["# tfc-nas report", "",
             f"- data: {r['data']}", f"- budget: {r['budget']}", f"- chosen space: `{r['space']}`",
             f"- input preprocessing: {_describe_pre(pre)}" if pre else "- input preprocessing: not recorded",
             f"- evaluated {r['evaluated']} genomes, {r['feasible']} within budget, {r['tfc_compiles']} tfc compiles",
             f"- instruction estimator: {r['estimator']}",
             f"- time: " + ", ".join(f"{k.removesuffix('_cpu')} {v} {'CPU-s' if k.endswith('_cpu') else 's'}"
                                     for k, v in r["seconds"].items()), "",
             "## SuperNAS", "", "| space | fit fraction | mean MACs of fitting | score |", "|---|---|---|---|"]
    lines += [f"| {c['space']} | {c['fit_fraction']:.2f} | {c['mean_fit_macs']:,.0f} | {c['score']:.3f} |"
              for c in r["supernas"]]
    lines += ["", "## Searched model vs densest sub-network of equal accuracy (same run)", "",
              f"The comparison: {r.get('comparison') or 'the densest record at least as accurate'}.", "",
              "Instructions: estimates per inference with the SparseEngine's kernels where tfc's sparsify pass "
              "chose them (`est. sparse`), and for the kernels the backend emits today (`est. as compiled`).", "",
              "| | arch#density/block per layer | acc (supernet, pruned) | est. sparse | est. as compiled | flash B | "
              "SRAM B | weight density | sparse layers |", "|---|---|---|---|---|---|---|---|---|"]
    for label, rec in (("searched", w), ("densest equal-acc.", d)):
        if rec:
            lines.append(f"| {label} | `{rec['key']}` | {rec['accuracy']:.4f} | {rec['instructions']:,.0f} | "
                         f"{rec['instructions_as_compiled']:,.0f} | {rec['flash']:,} | {rec['sram']:,} | "
                         f"{rec['density']:.2f} | {rec['sparse_layers']} |")
    if r["finalists"]:
        lines += ["", "## Finalists: each fine-tuned dense and sparse before the winner is chosen", "",
                  "| sub-network | version | val acc. fine-tuned | supernet acc. | est. instructions | flash B | SRAM B | "
                  "weight density | sparse kernels |", "|---|---|---|---|---|---|---|---|---|"]
        for fin in r["finalists"]:
            same = fin["sparse"]["key"] == fin["dense"]["key"]        # searched dense already: one row
            for name in (("dense (no pruning searched)",) if same else ("sparse", "dense")):
                v = fin[name.split()[0]]
                acc = v.get("finetuned_accuracy")
                chosen = " **(searched)**" if v["key"] == w["key"] else ""
                lines.append(f"| `{fin['arch']}` | {name}{chosen} | {'%.4f' % acc if acc is not None else 'not fitting'} | "
                             f"{_frac(v.get('supernet_accuracy'))} | {_num(v.get('instructions'))} | {_num(v.get('flash'))} | "
                             f"{_num(v.get('sram'))} | {_frac(v.get('density'))} | {v.get('sparse_kernels')} |")
    lines += ["", "## Final model", "",
              f"- float accuracy: val {f['float_accuracy']['val']:.4f}, test {f['float_accuracy']['test']:.4f}",
              f"- int8 test accuracy: **{f['int8_test_accuracy']:.4f}** (run on {f['run_on']})",
              f"- tfc flash/SRAM in the search: {f['search']['flash']:,} / {f['search']['sram']:,} B; compiled: "
              f"{f['compiled']['flash']:,} / {f['compiled']['sram']:,} B; equal: {f['search_equals_compiled']}"]
    for label, b in (("searched", f.get("bench")), ("densest equal-acc.", f.get("bench_densest")),
                     ("searched sub-network compiled dense", f.get("bench_same_dense"))):
        if b and "instructions" in b:
            lines.append(f"- tfc bench ({label}): {b['instructions']:,} instructions; estimate as compiled "
                         f"{b['estimate_as_compiled']:,.0f} ({100 * b['estimate_error']:+.1f} %); linked ELF flash "
                         f"{b['elf_flash']:,} B, static SRAM {b['elf_sram']:,} B (stack peak {b['stack_peak']:,} B); "
                         f"fits the budget: {b['elf_fits_budget']}")
        elif b:
            lines.append(f"- tfc bench ({label}): not measured ({b.get('error')})")
    c = f.get("searched_vs_densest") or {}
    if "speedup" in c:
        lines.append(f"- searched ({c['searched_sparse_kernels']} sparse kernels, weight density "
                     f"{c['searched_density']:.2f}) vs densest of equal accuracy (density {c['densest_density']:.2f}): "
                     f"{c['searched_instructions']:,} vs {c['densest_instructions']:,} instructions measured, "
                     f"{c['speedup']:.2f}x; searched is faster: {c['searched_is_faster']}")
        if "sparsity_speedup" in c:
            lines.append(f"- sparsity's share: the searched sub-network compiled dense runs "
                         f"{c['same_arch_dense_instructions']:,} instructions; tfc's sparse kernels make it "
                         f"{c['sparsity_speedup']:.2f}x faster")
        if not c["searched_sparse_kernels"]:
            lines.append("- the searched model runs no sparse kernel (tfc's sparsify pass kept its pruned layers "
                         "dense): its lead over the densest comparison comes from its architecture, not sparsity")
    elif c.get("note"):
        lines.append(f"- {c['note']}")
    d = f.get("deploy")
    if d:
        lines += ["", "## Deploy", "", f"- the C project: `{d['c_project']}` (`make -C {d['c_project']} "
                  f"TARGET={r['config']['target']}`)", f"- or compile again: `{d['command']}` (the calibration samples "
                  "are the run's, already preprocessed)"]
    lines += ["", "```", f.get("report_table", ""), "```", "", "![Pareto front](pareto.png)", ""]
    return "\n".join(lines)


def _num(v) -> str:
    return f"{v:,.0f}" if isinstance(v, (int, float)) else "-"


def _frac(v) -> str:
    return f"{v:.4f}" if isinstance(v, (int, float)) else "-"


def _describe_pre(pre: dict) -> str:
    from nas.preprocessing import Preprocessing
    keys = {k: v for k, v in pre.items() if k != "resize"}
    keys.update(mean=tuple(keys["mean"]), std=tuple(keys["std"]), loaded_size=tuple(keys["loaded_size"]))
    return Preprocessing(**keys).describe()


def summary(report: dict, out) -> str:
    """What `tfc-nas run` prints at the end: accuracy, the model's data vs the linked ELF, the
    instructions, and how to deploy."""
    f = report["final"]
    b = f.get("bench") or {}
    lines = [f"tfc-nas: done in {report['seconds']['total'] / 60:.1f} min; report: {out}/report.md",
             f"  int8 test accuracy {100 * f['int8_test_accuracy']:.2f} % (run on {f['run_on']}); float "
             f"{100 * f['float_accuracy']['test']:.2f} %",
             f"  model data (tfc): flash {f['compiled']['flash']:,} B, SRAM arena {f['compiled']['sram']:,} B"]
    if "instructions" in b:
        lines.append(f"  linked ELF: flash {b['elf_flash']:,} B, static SRAM {b['elf_sram']:,} B (stack peak "
                     f"{b['stack_peak']:,} B), fits the budget: {b['elf_fits_budget']}")
        lines.append(f"  {b['instructions']:,} instructions per inference (tfc bench, emulated {report['config']['target']})")
    c = f.get("searched_vs_densest") or {}
    if "speedup" in c:
        lines.append(f"  {c['speedup']:.2f}x fewer than the densest sub-network of equal accuracy"
                     + (f"; sparsity's own share {c['sparsity_speedup']:.2f}x" if "sparsity_speedup" in c else ""))
    d = f.get("deploy")
    if d:
        lines.append(f"  C project: {d['c_project']}  (make -C {d['c_project']} TARGET={report['config']['target']})")
    return "\n".join(lines)
