"""Per-image work in this process or on a Dask cluster (Dask distributed).

::

    with dask_client("local:2") as client:          # or None (in process), or "tcp://host:8786"
        done, failed = run_tasks(client, fn, items, desc="SSC")

One task per image. Each worker process loads the model once (:func:`worker_model`) and has its
TensorFlow threads set so that the workers on one machine share its cores instead of each using
all of them (:func:`share_cores`). A failing image is recorded with its name and error while the
others go on; the caller ends the run with the list (:class:`BatchError`). Dask re-runs the task of
a worker that dies; the per-image writers are atomic (temporary name, then rename, manifest last),
so a killed worker leaves nothing half-written and its image is simply done again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from sscnb.cnn._files import load_model
from sscnb.errors import BatchError, ResultsConflictError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from distributed import Client

    from sscnb.cnn._files import LoadedModel

__all__ = [
    "run_batch",
    "BatchError",
    "Interrupted",
    "ResultsConflictError",
    "dask_client",
    "share_cores",
    "worker_model",
    "run_tasks",
    "parse_scheduler",
]

logger = logging.getLogger(__name__)

_MODELS: dict = {}


class Interrupted(KeyboardInterrupt):
    """A batch stopped by Ctrl-C: ``finished`` of the ``todo`` items it had left are done (and kept), the rest not begun.

    A ``KeyboardInterrupt``, so that nothing that catches errors swallows it; the command line prints its message.
    """

    def __init__(self, finished: int, todo: int, what: str = "image"):
        self.finished, self.todo = int(finished), int(todo)
        super().__init__(
            f"interrupted: {self.finished} of the {self.todo} {what}s left to do finished (kept, each with its "
            "manifest); run the same command again to resume"
        )


def parse_scheduler(scheduler: str | None, workers: int | None = None) -> tuple[str, int | str | None]:
    """Return what to run on.

    Parameters
    ----------
    scheduler : None or str
        None: in this process; ``"local"`` or ``"local:N"``: a LocalCluster of N worker processes
        on this machine (default: one per 2 cores); otherwise the address of a running Dask
        scheduler (``tcp://host:8786``).
    workers : int, optional
        Same as ``"local:N"`` (the command line's ``--workers N``).

    Returns
    -------
    (kind, value) : ("none", None), ("local", N) or ("address", str)
    """
    if workers is not None:
        if scheduler is not None:
            raise ValueError("give --workers N (a cluster on this machine) or --scheduler ADDRESS, not both")
        if int(workers) < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        return "local", int(workers)
    if scheduler is None:
        return "none", None
    s = str(scheduler).strip()
    if s == "local" or s.startswith("local:"):
        n = s.split(":", 1)[1] if ":" in s else str(max(1, (os.cpu_count() or 2) // 2))
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"scheduler {scheduler!r}: write local:N with N >= 1 workers")
        return "local", int(n)
    if "://" not in s and ":" not in s:
        raise ValueError(f"scheduler {scheduler!r} is neither 'local', 'local:N' nor an address such as tcp://127.0.0.1:8786")
    return "address", s


def _set_threads(n: int) -> int:
    """Use at most ``n`` threads, on a worker or in this process with ``--threads``.

    For TensorFlow, PyTorch or JAX's CPU work (before the first model), and for the median filter and the
    random forest of phase 2 (``SSCNB_THREADS``).
    """
    os.environ["OMP_NUM_THREADS"] = str(n)
    os.environ["SSCNB_THREADS"] = str(n)
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(n)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "jax" and "jax" not in __import__("sys").modules:  # XLA's CPU threads, read when JAX starts
        flags = os.environ.get("XLA_FLAGS", "")
        if "intra_op_parallelism_threads" not in flags:
            os.environ["XLA_FLAGS"] = (flags + f" --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={n}").strip()
    try:
        if backend == "tensorflow":
            from sscnb.cnn._keras import quiet_native_import

            with quiet_native_import():  # a worker's first TensorFlow import: no C++ start-up lines on the console
                import tensorflow as tf
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        elif backend == "torch":
            import torch

            torch.set_num_threads(n)
    except RuntimeError:  # the runtime was already started in this worker: its threads stay as they are
        pass
    return n


def share_cores(client: Client) -> dict:
    """Give each worker ``cores of its machine // workers on that machine`` threads (at least 1).

    Parameters
    ----------
    client : distributed.Client

    Returns
    -------
    dict
        ``{worker address: threads}``.
    """
    info = client.scheduler_info()["workers"]
    by_host: dict = {}
    for addr, w in info.items():
        by_host.setdefault(w.get("host"), []).append(addr)
    cores = client.run(os.cpu_count)
    out = {}
    for _host, addrs in by_host.items():
        for a in addrs:
            n = max(1, (cores.get(a) or 1) // len(addrs))
            client.run(_set_threads, n, workers=[a])
            out[a] = n
    return out


@contextlib.contextmanager
def dask_client(
    scheduler: str | None = None, workers: int | None = None, log: Callable[[str], object] = print
) -> Iterator[Client | None]:
    """Return a Dask client for the batch (None when it runs in this process).

    Parameters
    ----------
    scheduler, workers
        See :func:`parse_scheduler`.
    log : callable
        Receives the dashboard address.

    Returns
    -------
    contextlib.AbstractContextManager
        Yields a ``distributed.Client``, or None for this process; the client (and a
        LocalCluster made here) are closed on exit.
    """
    kind, value = parse_scheduler(scheduler, workers)
    if kind == "none":
        yield None
        return
    from distributed import Client, LocalCluster

    cluster = None
    if kind == "local":
        assert isinstance(value, int)  # parse_scheduler: "local" comes with a worker count
        threads = max(1, (os.cpu_count() or 1) // value)
        # silence_logs: a failed task is said once, by name, by run_tasks; the workers' own "Compute
        # Failed" tracebacks (logged at ERROR) would bury that line; a dead worker still fails its task
        cluster = LocalCluster(
            n_workers=value,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.CRITICAL,
            env={
                "OMP_NUM_THREADS": str(threads),
                "TF_NUM_INTRAOP_THREADS": str(threads),
                "TF_NUM_INTEROP_THREADS": "1",
                "TF_CPP_MIN_LOG_LEVEL": "2",
            },
        )
        client = Client(cluster)
    else:
        try:
            client = Client(value, timeout="20s")
        except OSError as exc:
            raise ValueError(
                f"no Dask scheduler answers at {value} ({exc}): start one with `dask scheduler`, "
                "or use --workers N for a cluster on this machine"
            ) from None
        except Exception as exc:  # noqa: BLE001 - something else answered: Dask read its bytes as a message (a web
            # server's reply made it ask for 3 EiB of memory)
            raise ValueError(
                f"what answers at {value} is not a Dask scheduler ({type(exc).__name__} on connecting): check the "
                "address and port (`dask scheduler` prints its own), or use --workers N for a cluster on this machine"
            ) from None
    try:
        share_cores(client)
        log(f"Dask: {len(client.scheduler_info()['workers'])} worker(s); dashboard {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def worker_model(path: str | Path) -> LoadedModel:
    """Return the model at ``path``, loaded once per process (each worker keeps its own).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    sscnb.cnn.LoadedModel
    """
    key = str(Path(path).resolve())
    if key not in _MODELS:
        _MODELS[key] = load_model(key)
    return _MODELS[key]


def run_tasks(
    client: Client | None, fn: Callable, items: dict, *, desc: str, progress: bool = True, on_result: Callable | None = None
) -> tuple[dict, dict]:
    """Run ``fn(*args)`` for every item, in this process or on the cluster, one progress bar.

    Parameters
    ----------
    client : distributed.Client or None
    fn : callable
        Must be importable (a module-level function) when a client is given.
    items : dict
        ``{name: args tuple}``; names label the progress and the failures.
    desc : str
        Progress bar label.
    progress : bool
    on_result : callable, optional
        ``on_result(name, result)`` in this process as each item finishes (e.g. to append its
        timings), in the order they finish.

    Returns
    -------
    results : dict
        ``{name: result}`` of the items that succeeded.
    failures : dict
        ``{name: "ErrorType: message"}`` of those that failed; the others still ran.
    """
    results, failures = {}, {}
    bar = tqdm(total=len(items), desc=desc, unit="image", disable=not progress)

    def done(name, res=None, exc=None):
        if exc is not None:
            failures[name] = f"{type(exc).__name__}: {exc}"
            logger.warning("%s failed: %s", name, failures[name])
            # the whole traceback for whoever debugs it (run.log keeps INFO), not for the console
            logger.info("%s: traceback\n%s", name, "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
        else:
            results[name] = res
            if on_result is not None:
                on_result(name, res)
        bar.update(1)

    try:
        if client is None:
            for name, args in items.items():
                try:
                    res = fn(*args)
                except Exception as exc:  # noqa: BLE001 - reported by name, the others go on
                    done(name, exc=exc)
                else:
                    done(name, res)
        else:
            from distributed import as_completed

            futures = {
                client.submit(fn, *args, pure=False, key=f"{desc}-{name}-{os.getpid()}-{id(items)}"): name
                for name, args in items.items()
            }
            for fut in as_completed(futures):
                name = futures[fut]
                try:
                    res = fut.result()
                except Exception as exc:  # noqa: BLE001
                    done(name, exc=exc)
                else:
                    done(name, res)
    except KeyboardInterrupt as exc:  # Ctrl-C: each finished item is whole (written atomically), the one under way is not
        raise Interrupted(len(results) + len(failures), len(items)) from exc
    finally:
        bar.close()
    return results, failures


def run_batch(
    todo: dict,
    cnn: LoadedModel,
    local_fn: Callable,
    worker_fn: Callable,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    desc: str,
    progress: bool = True,
    on_result: Callable | None = None,
    log: Callable[[str], object] = print,
    local_extra: tuple = (),
) -> tuple[dict, dict]:
    """Run one of sscnb's resumable batches, the one driver (``evaluate_folder``, ``map_inputs``).

    The items left to do, in this process or on a Dask cluster, each task given the model.

    Parameters
    ----------
    todo : dict
        ``{name: args tuple}`` of the items still to do (the finished ones were read back already).
    cnn : LoadedModel
        The CNN: passed to ``local_fn`` as is, to ``worker_fn`` as its path (a worker loads it once,
        :func:`worker_model`).
    local_fn, worker_fn : callable
        ``local_fn(args[0], cnn, *args[1:], *local_extra)`` in this process;
        ``worker_fn(model_path, *args)`` on a worker (module-level, importable there).
    scheduler, workers
        Where to run (see :func:`dask_client`); neither: here.
    desc : str
        Progress bar label.
    progress : bool
    on_result : callable, optional
        ``on_result(name, result)`` as each item finishes.
    log : callable
    local_extra : tuple
        Arguments appended for ``local_fn`` only (such as its own progress bars).

    Returns
    -------
    results, failures : dict
        As :func:`run_tasks`.
    """
    with dask_client(scheduler, workers, log=log) as client:
        if client is None:
            items = {k: (args[0], cnn, *args[1:], *local_extra) for k, args in todo.items()}
            return run_tasks(None, local_fn, items, desc=desc, progress=progress, on_result=on_result)
        items = {k: (str(cnn.path), *args) for k, args in todo.items()}
        return run_tasks(client, worker_fn, items, desc=desc, progress=progress, on_result=on_result)
