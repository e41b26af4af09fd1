"""Scale-out: candidate evaluation in worker processes or on Ray gives the same records as one process, and
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


RAY_RUN = {"epochs": 1, "population": 4, "generations": 1, "supernas_samples": 2, "finetune_epochs": 1,
           "qat_epochs": 1, "width_mults": [0.5], "transformer_starts": [None], "train_limit": 200, "target": "host",
           "refine_archs": 0, "finalists": 1, "finalist_epochs": 1}


def test_ray_gives_the_same_searched_model_as_one_process(tmp_path, capfd):
    """`--ray local --workers 2` (a local Ray instance with 2 CPUs, no dashboard) evaluates the candidates
    on 2 Ray actors and searches the same model as one process; Ray prints nothing into the run's output
    and configures no logger but its own."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[nas,ray]')")
    pytest.importorskip("sklearn")
    import logging

    import ray

    from nas.cli import main
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(RAY_RUN))
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "one"), "--quiet", "--workers", "1"]) == 0
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    capfd.readouterr()
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "ray"), "--quiet", "--ray", "local",
                 "--workers", "2"]) == 0
    out, err = capfd.readouterr()
    assert err == "", err                                   # --quiet: nothing but warnings, and there are none
    assert out.startswith("tfc-nas: done in"), out
    assert (list(root.handlers), root.level) == before
    assert not ray.is_initialized(), "the local Ray instance the run started is stopped at its end"
    one, on_ray = (json.loads((tmp_path / d / "sparsenas.json").read_text()) for d in ("one", "ray"))
    assert on_ray["winner"] == one["winner"] and on_ray["records"] == one["records"]
    assert (tmp_path / "ray" / "model.onnx").read_bytes() == (tmp_path / "one" / "model.onnx").read_bytes()


def test_ray_evaluators_give_the_same_records_as_one_process():
    """The Evaluator on a Ray instance this process started (ray.init before the run) keeps it running."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[nas,ray]')")
    from nas.ray_cluster import actor_count, connect
    space = _evaluator(1).net.space
    genomes = initial_population(space, 4, random.Random(3))
    a = _evaluator(1).evaluate_many(genomes)
    # address="local": a new instance even where `ray start` left /tmp/ray/ray_current_cluster behind
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        session = connect("auto")
        assert not session.owned
        with pytest.raises(ConfigError, match=r"--workers 3 with --ray: the Ray cluster has 2 CPU\(s\)"):
            actor_count(ray, 3)                           # actors it cannot place would wait for ever
        ev = _evaluator(None)
        ev.ray = True
        try:
            b = ev.evaluate_many(genomes)
        finally:
            ev.close()
        session.close()
        assert ray.is_initialized()
    finally:
        ray.shutdown()
    assert a == b and ev.cost_model.compiles == 4


def test_ray_not_installed_says_what_to_install(tmp_path, monkeypatch, capsys):
    from nas.cli import main
    monkeypatch.setitem(sys.modules, "ray", None)            # import ray raises ImportError
    assert main(["run", "--data", "digits", "--out", str(tmp_path / "r"), "--ray", "local"]) == 2
    err = capsys.readouterr().err
    assert "--ray needs Ray, which is not installed here" in err and "pip install -e '.[nas,ray]'" in err
    assert not (tmp_path / "r").exists()


def test_ray_address_that_does_not_answer_fails_before_the_run_starts(tmp_path, capsys):
    pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[nas,ray]')")
    pytest.importorskip("sklearn")
    from nas.cli import main
    assert main(["run", "--data", "digits", "--out", str(tmp_path / "r"), "--ray", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "--ray 127.0.0.1:1: nothing answers there" in err and "HOST:PORT" in err
    assert not (tmp_path / "r").exists()
