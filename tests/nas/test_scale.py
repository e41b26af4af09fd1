"""Scale-out: candidate evaluation in worker processes gives the same records as one process, and
`torchrun --nproc_per_node 2 -m nas run` (gloo, CPU) finishes and reports."""
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from nas.cost import Budget, TfcCostModel  # noqa: E402
from nas.distributed import pick_device  # noqa: E402
from nas.errors import ConfigError  # noqa: E402
from nas.sparsenas import Evaluator, initial_population  # noqa: E402
from nas.space import make_space  # noqa: E402
from nas.supernet import SuperNet  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _evaluator(workers: int) -> Evaluator:
    space = make_space(in_channels=1, num_classes=10, resolution=16, width_mult=0.5, transformer_start=None)
    torch.manual_seed(0)
    net = SuperNet(space)
    x = np.random.default_rng(0).normal(size=(64, 1, 16, 16)).astype(np.float32)
    y = np.arange(64) % 10
    return Evaluator(net, Budget(1 << 20, 320 << 10), TfcCostModel("host", x), x[:32], x, y, workers=workers)


def test_workers_give_the_same_records_as_one_process():
    space = _evaluator(1).net.space
    genomes = initial_population(space, 6, random.Random(3))
    one = _evaluator(1)
    a = one.evaluate_many(genomes)
    two = _evaluator(2)
    try:
        b = two.evaluate_many(genomes + genomes[:2])      # repeats are served from the records
    finally:
        two.close()
    assert a == b[:6] and b[6:] == a[:2]
    assert list(one.records) == list(two.records)          # same order: the winner rule sees the same list
    assert one.cost_model.compiles == two.cost_model.compiles == 6


def test_device_names():
    assert pick_device("cpu").type == "cpu"
    with pytest.raises(ConfigError, match="unknown device"):
        pick_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device here"):
            pick_device("cuda:0")


def test_torchrun_two_cpu_processes_finish_and_report(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"epochs": 2, "population": 4, "generations": 1, "supernas_samples": 2,
                               "finetune_epochs": 2, "qat_epochs": 1, "width_mults": [0.5],
                               "transformer_starts": [None], "train_limit": 160, "target": "host", "refine_archs": 0,
                               "finalists": 1, "finalist_epochs": 1}))
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "nas", "run", "--config", str(cfg), "--out", str(out), "--quiet", "--device", "cpu"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["final"]["search_equals_compiled"]
    assert p.stdout.count("tfc-nas: done in") == 1, p.stdout       # rank 0 alone reports
    assert not [f for f in out.iterdir() if f.name.startswith(".")], "temporary files left behind"
