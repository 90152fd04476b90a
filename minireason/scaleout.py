"""Scale-out on Ray: the same work of evaluation, scaling, teacher data and GRPO rollouts, on actors.

The one module that imports Ray (lazily: the ``ray`` extra is optional).  It sits above
``evaluation``, ``scaling`` and ``generation`` and below ``training``/``posttrain``, which take its
executor as an argument and never import it.

The seam is :class:`RayExecutor` (an *executor*): ``map(function, jobs)`` runs
``function(model, tokenizer, job)`` for every job on some actor and yields the results in the jobs'
order, as they come in.  ``function`` is a plain module-level function of the room that owns the
work (the evaluation core's batch, a scaling method on one problem, a teacher batch, a GRPO
group); without an executor the same function runs in the calling process, so there is one loop,
not a second copy of it.  ``publish(model)`` ships new weights to every actor (once per GRPO step).

* Actors: ``workers`` of them, each holding one replica of the model; the parameters go into the
  object store once (``ray.put``) and every actor, a replacement included, builds its replica from
  that one object.  Each actor runs with ``blas_threads`` BLAS/OpenMP threads (1 by default, set in
  its environment before NumPy loads) and on the driver's backend (``--backend numba`` works).
* Results do not depend on the number of workers: a job is a fixed shard of the work (a batch of
  problems as the single-process loop cuts it, one scaling method on one problem, one GRPO prompt's
  group) with its own per-item generators (:func:`minireason.seeds.item_generator`), so where it
  runs changes nothing.
* Fault tolerance: a job whose actor dies (killed, out of memory, its machine gone) is run again on
  a fresh actor; results are yielded once each, in order.  A run whose actors keep dying stops with
  a one-line error.
* Lifecycle: without ``address`` a local Ray instance is started (``num_cpus``: the workers) and shut
  down by :meth:`RayExecutor.close` (also reached on Ctrl-C through ``with``); with ``address`` it
  connects to a running cluster, after a socket probe so that an unreachable address fails within
  seconds.  A Ray instance that is already running in this process (a notebook's, a test session's)
  is used and left running.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import minireason.tasks  # noqa: F401 - an actor's judge knows the task families' verifiers
from minireason.backend import get_backend, set_backend
from minireason.device import to_host
from minireason.errors import ConfigError, InputError
from minireason.model import Qwen3Model

INSTALL_HINT = "pip install 'minireason[ray]'"
# the thread pools of the libraries a replica's NumPy and numba may start
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
PROBE_SECONDS = 5.0  # how long an --address gets to answer before it is called unreachable
# the client's hello of HTTP/2 (what gRPC speaks): the preface and an empty settings frame; a server
# answers with a frame of its own settings (type 4)
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HTTP2_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
HTTP2_SETTINGS = 4
JOBS_PER_WORKER = 2  # one running and one queued on each actor: no round trip between jobs


def import_ray():
    """The ``ray`` module, or a one-line ConfigError naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--ray needs Ray: {INSTALL_HINT}") from None
    return ray


def check_workers(workers, name: str = "workers") -> int:
    """``workers`` if it is an int >= 1 (a count of Ray actors); InputError naming ``name`` otherwise."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"{name}: expected an int >= 1, got {workers!r}")
    return workers


def probe_address(address: str, seconds: float = PROBE_SECONDS) -> None:
    """A ConfigError within about ``seconds`` unless a gRPC server (what a Ray head's GCS and client
    server are) answers at ``address`` (``host:port`` or ``ray://host:port``; ``auto`` and other forms
    are left to Ray).  Ray itself would wait minutes for an address that takes the connection but
    never answers as Ray, so the probe says hello in HTTP/2 and waits for the server's settings."""
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return
    header = b""
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=seconds) as connection:
            connection.settimeout(seconds)
            connection.sendall(HTTP2_PREFACE + HTTP2_EMPTY_SETTINGS)
            while len(header) < 9:
                chunk = connection.recv(9 - len(header))
                if not chunk:
                    break
                header += chunk
    except OSError as error:
        reason = "no answer" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise ConfigError(f"--address {address}: no Ray cluster answers there ({reason}); start one with "
                          f"'ray start --head' or check the address") from None
    if len(header) < 9 or header[3] != HTTP2_SETTINGS:
        raise ConfigError(f"--address {address}: no Ray cluster answers there (something else listens on that "
                          f"port); give the head's GCS address (ray start --head prints it)")


def _package_root() -> str:
    """The folder holding this ``minireason`` package: a local instance's workers import this copy."""
    return str(Path(__file__).resolve().parent.parent)


def _worker_environment(blas_threads: int, local: bool) -> dict:
    variables = {name: str(blas_threads) for name in THREAD_VARIABLES}
    if local:  # a local instance's workers run this checkout, whichever minireason is installed
        existing = os.environ.get("PYTHONPATH")
        variables["PYTHONPATH"] = _package_root() + (os.pathsep + existing if existing else "")
    return variables


class _Replica:
    """One actor's model replica: built from the shared parameters, running plain functions on it."""

    def __init__(self, config, params, model, tokenizer, backend):
        if backend is not None:
            set_backend(backend)
        self.tokenizer = tokenizer
        self.config, self.backend = config, backend
        self.model = model if model is not None else Qwen3Model(config, params, backend=backend)

    def ready(self) -> int:
        return os.getpid()

    def load(self, params) -> None:
        self.model = Qwen3Model(self.config, params, backend=self.backend)

    def run(self, function: Callable, job):
        return function(self.model, self.tokenizer, job)


class RayExecutor:
    """``workers`` Ray actors holding a replica of ``model`` each (see the module docstring).

    address: a running cluster (``host:port`` of its head, ``ray://host:port`` or ``auto``); None
    starts a local instance with ``num_cpus`` CPUs (default: ``workers``).  blas_threads: threads of
    each actor's BLAS and numba; cpus_per_worker: the Ray CPUs each actor holds while it lives (0 lets
    actors share CPUs that other actors hold).  max_restarts: actors replaced in all before the run
    gives up.
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, model, tokenizer, workers: int = 2, address: str | None = None,
                 num_cpus: int | None = None, blas_threads: int = 1, cpus_per_worker: float = 1,
                 max_restarts: int | None = None):
        ray = import_ray()
        self.ray = ray
        self.workers = check_workers(workers)
        check_workers(blas_threads, "blas_threads")
        self.max_restarts = 2 * self.workers + 2 if max_restarts is None else max_restarts
        self.restarts = 0
        self.cpus_per_worker = cpus_per_worker
        self.started_ray = False
        self._actors: list = []
        if not ray.is_initialized():
            if address is not None:
                probe_address(address)
                try:
                    ray.init(address=address, log_to_driver=False)
                except ConnectionError as error:  # e.g. a cluster with token authentication, no token here
                    raise ConfigError(f"--address {address}: Ray could not connect ({error}); a cluster with "
                                      f"token authentication needs RAY_AUTH_MODE=token and its token here "
                                      f"(docs/scale_out.md)") from None
            else:
                ray.init(num_cpus=num_cpus or self.workers, include_dashboard=False, log_to_driver=False)
            self.started_ray = True
        self.local = address is None
        try:
            self._environment = _worker_environment(blas_threads, self.local)
            self._tokenizer = ray.put(tokenizer)
            self._backend = getattr(model, "backend", None) or get_backend()
            params = getattr(model, "params", None)
            if isinstance(params, dict) and hasattr(model, "config"):
                self._config = model.config
                self._params, self._model = ray.put(_host_params(params)), None
            else:  # a stand-in model (tests): the object itself is the replica
                self._config, self._params, self._model = None, None, ray.put(model)
            self._actor_class = ray.remote(_Replica)
            self._actors = [self._new_actor() for _ in range(self.workers)]
            ray.get([actor.ready.remote() for actor in self._actors])
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ actors
    def _new_actor(self):
        options = {"num_cpus": self.cpus_per_worker, "max_restarts": 0, "runtime_env": {"env_vars": self._environment}}
        return self._actor_class.options(**options).remote(self._config, self._params, self._model,
                                                           self._tokenizer, self._backend)

    def _replace(self, slot: int) -> None:
        self.restarts += 1
        if self.restarts > self.max_restarts:
            raise ConfigError(f"ray: {self.restarts} actors died in this run (at most {self.max_restarts} are "
                              f"replaced); see the Ray logs (/tmp/ray/session_latest/logs)")
        try:
            self.ray.kill(self._actors[slot])
        except Exception:  # already gone
            pass
        self._actors[slot] = self._new_actor()

    @property
    def actors(self) -> list:
        """The actor handles, one per worker (tests kill one to check that its work is redone)."""
        return list(self._actors)

    def publish(self, model) -> float:
        """Ship ``model``'s current parameters to every actor (one ``ray.put``); returns the seconds it took."""
        started = time.perf_counter()
        if self._params is None:  # a stand-in model: fresh actors holding the new object
            self._model = self.ray.put(model)
            for slot in range(len(self._actors)):
                self.ray.kill(self._actors[slot])
                self._actors[slot] = self._new_actor()
        else:
            self._params = self.ray.put(_host_params(model.params))
            loading = [actor.load.remote(self._params) for actor in self._actors]
            for slot, ref in enumerate(loading):
                try:
                    self.ray.get(ref)
                except self.ray.exceptions.RayActorError:
                    self._replace(slot)  # the fresh actor is built from the new parameters
        return time.perf_counter() - started

    # ------------------------------------------------------------------ work
    def map(self, function: Callable, jobs: Iterable) -> Iterator:
        """``function(model, tokenizer, job)`` for each job on the actors; results in the jobs' order."""
        ray = self.ray
        jobs = list(jobs)
        pending = deque(range(len(jobs)))
        running: dict = {}  # object ref -> (job index, actor slot)
        load = [0] * len(self._actors)
        done: dict[int, object] = {}
        shipped = ray.put(function)
        next_index = 0
        try:
            while next_index < len(jobs):
                for slot in range(len(self._actors)):
                    while pending and load[slot] < JOBS_PER_WORKER:
                        index = pending.popleft()
                        ref = self._actors[slot].run.remote(shipped, jobs[index])
                        running[ref] = (index, slot)
                        load[slot] += 1
                while next_index in done:
                    yield done.pop(next_index)
                    next_index += 1
                if next_index >= len(jobs):
                    break
                ready, _ = ray.wait(list(running), num_returns=1)
                ref = ready[0]
                index, slot = running.pop(ref)
                load[slot] -= 1
                try:
                    done[index] = ray.get(ref)
                except ray.exceptions.RayActorError:
                    lost = [other for other, (_, where) in running.items() if where == slot]
                    for other in lost:
                        pending.appendleft(running.pop(other)[0])
                    pending.appendleft(index)
                    pending = deque(sorted(pending))
                    load[slot] = 0
                    self._replace(slot)
                except ray.exceptions.RayTaskError as error:
                    cause = getattr(error, "cause", None)
                    raise (cause if isinstance(cause, BaseException) else error) from None
        finally:
            for ref in running:
                try:
                    ray.cancel(ref)
                except Exception:  # finished or its actor gone: nothing to cancel
                    pass

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Kill the actors; shut down the Ray instance this executor started (a running one is left)."""
        for actor in self._actors:
            try:
                self.ray.kill(actor)
            except Exception:  # already gone
                pass
        self._actors = []
        if self.started_ray and self.ray.is_initialized():
            self.ray.shutdown()
        self.started_ray = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _host_params(params: dict) -> dict:
    """The parameters as NumPy arrays (a GPU model's come to the host for shipping)."""

    return {name: to_host(value) for name, value in params.items()}


@contextlib.contextmanager
def scale_out(model, tokenizer, ray: bool, workers: int | None = None, address: str | None = None,
              workers_flag: str = "--workers") -> Iterator[RayExecutor | None]:
    """A :class:`RayExecutor` while the block runs when ``ray`` (the ``--ray`` flag), else None (this
    process); closed however the block ends (an exception, Ctrl-C)."""
    if not ray:
        for flag, value in (("--address", address), (workers_flag, workers)):
            if value is not None:
                raise InputError(f"{flag} needs --ray")
        yield None
        return
    executor = RayExecutor(model, tokenizer, workers=2 if workers is None else workers, address=address)
    try:
        yield executor
    finally:
        executor.close()


def add_ray_arguments(parser, workers_flag: str = "--workers") -> None:
    """The flags of a command that scales out: --ray, --address, and the number of workers."""
    parser.add_argument("--ray", action="store_true",
                        help=f"run on Ray actors, each holding a model replica ({INSTALL_HINT})")
    parser.add_argument("--address", default=None,
                        help="with --ray: a running Ray cluster (HEAD:6379, ray://HEAD:10001 or auto); "
                             "default: start a local instance")
    parser.add_argument(workers_flag, dest="workers", type=int, default=None,
                        help="with --ray: actors, one model replica and one BLAS thread each (default 2)")
