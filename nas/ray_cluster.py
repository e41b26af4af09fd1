"""Candidate evaluation on a Ray cluster (`tfc-nas run --ray ADDRESS`, the optional `ray` extra).

ADDRESS is what `ray.init` takes: `local` starts a Ray instance on this machine for the run (with
`--workers` CPUs, default all; stopped at its end), `auto` joins the cluster that `ray start --head`
started on this machine (or the one in RAY_ADDRESS), HOST:PORT a head node's GCS address
(`ray://HOST:10001`, Ray Client, is passed on untested).

The trained supernet and the data go into the object store once; each actor (one CPU) builds an
Evaluator from them and evaluates the genomes it is handed. `ray.util.ActorPool.map` hands genomes
to idle actors and returns the records in the order of the genomes, so the records, and the
searched model, are those of one process. Every node needs this version of tfc with the `nas` extra
installed (the actors import nas and tfc; nothing else is shipped).

Ray's own Python logging stays at errors only and the workers' output is not forwarded: the run's
output is the `nas` logger's (Ray's logs are in its session directory, /tmp/ray/session_latest/logs).
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
from dataclasses import dataclass

from nas.errors import ConfigError, NasError

RAY_REQUIREMENT = "ray==2.60.0"      # keep equal to pyproject's `ray` extra
INSTALL_HINT = f"install the ray extra: pip install -e '.[nas,ray]' (or pip install '{RAY_REQUIREMENT}')"
NODE_HINT = ("every Ray node needs this tfc with the nas extra installed (the actors import nas and tfc); "
             "Ray's logs: /tmp/ray/session_latest/logs on the node")
REACH_TIMEOUT_S = 5.0
ADDRESS_HINT = ("give `local` (start Ray on this machine for the run), `auto` (the cluster `ray start --head` "
                "started here) or the head node's HOST:PORT (`ray start --head` prints it)")
AUTH_HINT = ("; a cluster with token authentication (on by default for Ray 2.60's `ray start`) needs "
             "RAY_AUTH_MODE=token here and its token (in ~/.ray/auth_token or RAY_AUTH_TOKEN)")


def require_ray():
    """The `ray` module, or a ConfigError saying what to install."""
    try:
        import ray
    except ImportError as e:
        raise ConfigError(f"--ray needs Ray, which is not installed here ({e})", hint=INSTALL_HINT) from None
    return ray


@dataclass
class Session:
    """A connection to Ray; `owned`: this run made it (and ends it), else it was there already."""
    address: str
    owned: bool

    def close(self) -> None:
        if self.owned:
            import ray
            ray.shutdown()


def connect(address: str, cpus: int | None = None) -> Session:
    """Join the Ray cluster at `address`, or for `local` start one with `cpus` CPUs (None: all of this
    machine's); a process already connected to Ray (ray.init before run_pipeline) keeps its connection."""
    ray = require_ray()
    if ray.is_initialized():
        return Session(address, owned=False)
    _check_reachable(address)
    quiet = {} if address.startswith("ray://") else {    # Ray Client forwards these to the cluster's init
        "include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR}
    with _stderr_kept(address != "local") as said:
        try:
            ray.init(address=address, num_cpus=cpus if address == "local" else None, **quiet)
        except (ConnectionError, ValueError, RuntimeError, TimeoutError, SystemExit) as e:
            failure = e
        else:
            session = Session(address, owned=True)
            try:
                actor_count(ray, cpus)            # too many for the cluster: said now, not after training
            except ConfigError:
                session.close()
                raise
            return session
    why = f"{failure or type(failure).__name__}" + (f"; Ray said: {said[0]}" if said else "")
    raise ConfigError(f"--ray {address}: could not connect to Ray ({why})",
                      hint=ADDRESS_HINT + (AUTH_HINT if "auth" in why.lower() else ""))


@contextlib.contextmanager
def _stderr_kept(keep: bool):
    """While joining a cluster, Ray's C++ core writes a warning to stderr for every failed retry (one
    a second); they are kept from the run's output, and the last one is put in `said` for the error."""
    said: list[str] = []
    if not keep:
        yield said
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield said
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines = [ln.strip() for ln in tmp.read().decode(errors="replace").splitlines() if ln.strip()]
            said.extend(ln.split("] ", 1)[-1] for ln in lines[-1:])


def _check_reachable(address: str) -> None:
    """HOST:PORT addresses are tried with a plain TCP connection first: Ray itself retries an
    unreachable one for minutes and then exits the process."""
    if address in ("local", "auto"):
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--ray {address}: not a Ray address", hint=ADDRESS_HINT)
    try:
        socket.create_connection((host, int(port)), timeout=REACH_TIMEOUT_S).close()
    except OSError as e:
        raise ConfigError(f"--ray {address}: nothing answers there ({e})", hint=ADDRESS_HINT) from None


def actor_count(ray, wanted: int | None) -> int:
    """`wanted` evaluators (None: one per CPU of the cluster), refused when the cluster has fewer CPUs:
    the actors it cannot place would wait for ever."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if wanted is not None and wanted > cpus:
        raise ConfigError(f"--workers {wanted} with --ray: the Ray cluster has {cpus} CPU(s), one per evaluator",
                          hint=f"use --workers {max(cpus, 1)} or fewer, or leave --workers out (one per CPU)")
    return wanted or max(cpus, 1)


class _Evaluator:
    """A Ray actor's state: one Evaluator built from `nas.sparsenas.worker_payload`."""

    def __init__(self, payload: tuple):
        from nas.sparsenas import evaluator_from
        self.ev = evaluator_from(payload)

    def evaluate(self, genome: dict) -> dict:
        from nas.evolution import Genome
        return self.ev.evaluate(Genome.from_dict(genome))


class RayPool:
    """`actors` Ray actors (None: one per CPU of the cluster), each holding the trained supernet."""

    def __init__(self, payload: tuple, actors: int | None):
        ray = require_ray()
        from ray.util import ActorPool
        n = actor_count(ray, actors)
        ref = ray.put(payload)                   # one copy in the object store, shared by every actor
        cls = ray.remote(num_cpus=1)(_Evaluator)
        self._actors = [cls.remote(ref) for _ in range(n)]
        self._pool = ActorPool(self._actors)

    def map(self, genomes: list[dict]) -> list[dict]:
        from ray.exceptions import RayError, RayTaskError
        try:
            return list(self._pool.map(lambda actor, g: actor.evaluate.remote(g), genomes))
        except RayTaskError as e:                # the evaluation's own error (a TfcError prints as one)
            raise (e.cause if e.cause is not None else e) from e
        except RayError as e:                    # an actor that could not start or died
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise NasError(f"a Ray evaluator failed: {first}", hint=NODE_HINT) from e

    def close(self, *, terminate: bool = False) -> None:
        """Stop the actors at once either way (each holds a CPU of the cluster until it ends)."""
        import ray
        from ray.exceptions import RayError
        for actor in self._actors:
            try:
                ray.kill(actor)
            except RayError:        # already gone (the cluster stopped, e.g. on Ctrl-C)
                pass
        self._actors = []
