"""Where a sweep's configurations train: a pool of local processes, or Ray tasks on a local Ray or a cluster. Both
hand back standard futures, so one loop (`run_jobs`) schedules, retries, saves and reports for either.

On Ray the driver loads and splits the data once and puts it in Ray's object store: a task on another machine
receives the arrays with its arguments, so the dataset's path need not exist there; only tinyml-kit (with the
same version) must be installed on every node. Results come back to the driver, which alone writes the sweep
directory.
"""

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager

from tinyml_kit.compress.quantize import calibration_images
from tinyml_kit.core import progress
from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.stderr import captured_stderr
from tinyml_kit.train.data import load_dataset, split

logger = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
RAY_MISSING = ('Ray is not installed: pip install -e ".[ray]" (or pip install "tinyml-kit[ray]"), or use '
               f'{param("executor", "local")}')

Work = Callable[[dict, str, object], dict]   # (job, data, recipe) -> result row

_WORKER: dict = {}   # per worker process: the data split and calibration images, and its thread count


def load_split(data: str, recipe) -> tuple:
    """The recipe's train/validation split of `data` and its calibration images, made once per process."""
    if _WORKER.get("key") != (data, recipe):
        parts = split(load_dataset(data, recipe.input_shape), val_fraction=recipe.val_fraction, seed=recipe.seed)
        _WORKER.update(key=(data, recipe), loaded=(parts, calibration_images(parts.train.x, seed=recipe.seed)))
    return _WORKER["loaded"]


def _use_threads(threads: int) -> None:
    """TensorFlow's threads for this process: its share of the cores (settable once, before TF starts work)."""
    if _WORKER.get("threads") is None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from tinyml_kit._tf import tf

        tf().config.threading.set_intra_op_parallelism_threads(threads)
        tf().config.threading.set_inter_op_parallelism_threads(1)
        _WORKER["threads"] = threads


def _local_init(data: str, recipe, threads: int) -> None:
    _use_threads(threads)
    load_split(data, recipe)


def _ray_task(work: Work, job: dict, data: str, recipe, loaded: tuple, threads: int) -> dict:
    """One configuration in a Ray worker: the split arrives from the object store instead of being loaded."""
    _use_threads(threads)
    _WORKER.update(key=(data, recipe), loaded=loaded)
    return work(job, data, recipe)


class LocalPool:
    """`workers` spawned processes, each loading the data once and using `threads` cores."""

    name = "local"

    def __init__(self, work: Work, data: str, recipe, workers: int, threads: int):
        self.work, self.data, self.recipe, self.workers = work, data, recipe, workers
        self.startup_seconds = 0.0
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_local_init, initargs=(data, recipe, threads))

    def submit(self, job: dict) -> Future:
        return self._pool.submit(self.work, job, self.data, self.recipe)

    def stop(self) -> None:
        """Now, on Ctrl-C: the running configurations are abandoned (they start over on resume)."""
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._pool.shutdown()


class RayPool:
    """Each configuration a Ray task of `threads` CPUs, at most `workers` at once (default: as many as the cluster's
    CPUs hold). Joins the cluster at `address`, or starts a local Ray and stops it at the end."""

    name = "ray"

    def __init__(self, work: Work, data: str, recipe, workers: int | None, threads: int, address: str | None):
        try:
            import ray
        except ImportError:
            raise UserError(RAY_MISSING, "executor") from None
        start = time.perf_counter()
        self._ray, self._started = ray, not ray.is_initialized()
        if self._started:
            _ray_init(ray, address)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < threads:
            self.close()
            raise UserError(f"the Ray cluster has {cpus} CPUs, fewer than the {threads} each configuration asks: "
                            f"lower {param('cpus_per_task')} or add nodes", "cpus_per_task")
        self.workers = workers or max(1, cpus // threads)
        self._loaded = ray.put(load_split(data, recipe))
        self._task = ray.remote(num_cpus=threads, max_retries=0)(_ray_task)
        self.work, self.data, self.recipe, self.threads = work, data, recipe, threads
        self._refs: dict[Future, object] = {}
        self.startup_seconds = time.perf_counter() - start
        logger.info(f"Ray: {cpus} CPUs on {len(ray.nodes())} node(s), {self.workers} configurations at once, "
                    f"{threads} CPU(s) each (started in {self.startup_seconds:.1f} s)")

    def submit(self, job: dict) -> Future:
        ref = self._task.remote(self.work, job, self.data, self.recipe, self._loaded, self.threads)
        future = ref.future()
        self._refs[future] = ref
        return future

    def stop(self) -> None:
        for ref in self._refs.values():
            self._ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()


def _ray_init(ray, address: str | None) -> None:
    """Join `address`, or start a local Ray on this machine's cores, with Ray's own chatter kept off the terminal.
    The workers get the driver's TensorFlow settings (legacy Keras for tfmot)."""
    if address and address != "auto":
        _reachable(address)
    env = {k: os.environ[k] for k in ("TF_USE_LEGACY_KERAS", "TF_CPP_MIN_LOG_LEVEL") if k in os.environ}
    options = dict(logging_level=logging.ERROR, log_to_driver=False, runtime_env={"env_vars": env})
    where = f"the Ray cluster at {address}" if address else "a local Ray"
    said: list[str] = []
    try:
        with captured_stderr() as said:
            if address:
                ray.init(address=address, **options)
            else:
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False, **options)
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as e:
        if isinstance(e, ray.exceptions.AuthenticationError) or "InvalidAuthToken" in "".join(said):
            raise UserError(f"{where} asks for its token: export RAY_AUTH_MODE=token and RAY_AUTH_TOKEN=<the output "
                            f"of `ray get-auth-token` on its head node>, then run again", "ray_address") from None
        raise UserError(f"could not start {where} ({str(e).splitlines()[0]}): check the address `ray start --head` "
                        f"printed, and that this machine runs the cluster's Ray and Python versions",
                        "ray_address") from None


def _reachable(address: str, seconds: float = 5.0) -> None:
    """Fail in seconds on an address nothing listens at (Ray itself retries for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        given = param("ray_address", f"'{address}'")
        raise UserError(f"{given} is not HOST:PORT: give the address `ray start --head` printed "
                        f"(e.g. 10.0.0.5:6379), or 'auto'", "ray_address")
    try:
        socket.create_connection((host, int(port)), timeout=seconds).close()
    except OSError as e:
        raise UserError(f"no Ray cluster answers at {address} ({e.strerror or e}): start one with `ray start --head` "
                        f"and give the address it prints", "ray_address") from None


def open_pool(executor: str, work: Work, data: str, recipe, workers: int | None, threads: int | None,
              address: str | None = None):
    """The executor by name. Threads default to the local cores split between the workers, and to 1 per Ray task."""
    if executor not in EXECUTORS:
        raise UserError(f"unknown executor '{executor}': use one of {', '.join(EXECUTORS)}", "executor")
    if address and executor != "ray":
        raise UserError(f"{param('ray_address')} is for {param('executor', 'ray')}: add it, or drop the address",
                        "ray_address")
    if executor == "ray":
        return RayPool(work, data, recipe, workers, threads or 1, address)
    workers = workers or 1
    return LocalPool(work, data, recipe, workers, threads or max(1, (os.cpu_count() or 1) // workers))


def require_local_cores(workers: int | None, threads: int | None) -> None:
    """No configuration may ask for more cores than this machine has; workers that share them are warned about."""
    cores = os.cpu_count() or 1
    if threads and threads > cores:
        raise UserError(f"{threads} cores per configuration on a machine with {cores}: give at most {cores}, or "
                        f"train on a Ray cluster ({param('executor', 'ray')})", "cpus_per_task")
    workers = workers or 1
    threads = threads or max(1, cores // workers)   # as LocalPool splits them
    if workers * threads > cores:
        logger.warning(f"{workers} configurations at once x {threads} core(s) each is more than this machine's "
                       f"{cores}: they share the cores, each training slower")


def run_jobs(todo: list[dict], pool, key: Callable[[dict], str], save: Callable[[dict], None],
             failure: Callable[[dict, str], dict]) -> list[str]:
    """Run every job on `pool`, `pool.workers` at a time, saving each result as it comes; a job that raises is
    queued once more, then saved as `failure(job, error)`. Returns the keys that failed twice. On Ctrl-C the pool
    is stopped at once and the interrupt goes on: every finished result is already saved."""
    tries = {key(j): 0 for j in todo}
    failed: list[str] = []
    done = 0
    with progress.counter("sweep", len(todo)) as bar:
        running = {pool.submit(j): j for j in todo[:pool.workers]}
        queue = list(todo[pool.workers:])
        try:
            while running:
                bar.describe(f"sweep: {done} done, {len(running)} running, {len(failed)} failed")
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    job = running.pop(future)
                    tries[key(job)] += 1
                    error = future.exception()
                    if error is None:
                        save(future.result())
                        done += 1
                        bar.advance()
                        logger.info(f"  {key(job)}: done")
                        continue
                    error = getattr(error, "cause", None) or error   # Ray wraps the task's own exception
                    message = f"{type(error).__name__}: {error}".splitlines()[0]
                    if tries[key(job)] < 2:
                        logger.info(f"  {key(job)}: failed ({message}), trying once more")
                        queue.insert(0, job)
                    else:
                        save(failure(job, message))
                        failed.append(key(job))
                        bar.advance()
                while queue and len(running) < pool.workers:
                    job = queue.pop(0)
                    running[pool.submit(job)] = job
        except KeyboardInterrupt:
            with deaf_to_interrupts():   # a second Ctrl-C while the workers stop would end in a traceback
                pool.stop()
                pool.close()
            raise
        finally:
            pool.close()
    return failed


@contextmanager
def deaf_to_interrupts():
    """Ctrl-C and SIGTERM ignored while the block runs (the stopping after a first one), then as before. Only the
    main thread can set signal handlers; elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def describe(pool) -> dict:
    """What the summary says about where the sweep ran."""
    return {"executor": pool.name, "workers": pool.workers, "startup_seconds": round(pool.startup_seconds, 2)}

