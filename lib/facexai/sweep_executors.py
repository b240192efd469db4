"""Where a sweep's points run: a local process pool or a Dask cluster. Each executor takes the
points' tasks and yields ``(task, record)`` as they finish; a point whose worker died yields
``(task, WorkerLost)``.

A worker of the local pool watches the process that started it (:func:`watch_parent`): when the
sweep's main process dies, even by ``SIGKILL``, the worker kills its notebook kernel and exits,
instead of waiting forever for points that will never come. An unreachable Dask scheduler is a
:class:`SchedulerUnreachable` error after :data:`CONNECT_TIMEOUT_S` seconds.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterable

#: Seconds to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT_S = 5


class WorkerLost(RuntimeError):
    """A worker died while running a point (killed, out of memory): the point did not run."""


class SchedulerUnreachable(ConnectionError):
    """No Dask scheduler answers at the address given."""


def _descendants(pid: int) -> list[int]:
    """The processes started by ``pid`` and by them, from ``/proc`` (Linux) or psutil."""
    children: dict[int, list[int]] = {}
    try:
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                try:
                    stat = Path(entry.path, "stat").read_text()
                except OSError:
                    continue
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    except OSError:  # no /proc
        try:
            import psutil
        except ImportError:
            return []
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    out, todo = [], [pid]
    while todo:
        found = children.get(todo.pop(), [])
        out += found
        todo += found
    return out


def _kill_children_and_exit() -> None:
    """Kill what this process started (a notebook kernel runs in a process group of its own,
    with whatever it started) and exit."""
    for pid in _descendants(os.getpid()):
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os._exit(1)


def watch_parent(parent: int, interval: float = 0.5) -> None:
    """Initializer of a pool worker: a daemon thread ends the worker (and its kernel) as soon as
    ``parent``, the sweep's main process, is gone."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        _kill_children_and_exit()

    threading.Thread(target=watch, name="facexai-watch-parent", daemon=True).start()


@contextmanager
def output_to(log: Path):
    """Send this process's stdout and stderr, and those of the kernels it starts, to ``log``
    (a notebook page running a sweep would otherwise show every kernel's start-up warnings)."""
    import sys

    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "w", encoding="utf-8") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def local_executor(tasks: list[dict], workers: int, run: Callable[[dict], dict],
                    attempts: int = 2) -> Iterable[tuple[dict, Any]]:
    """Run the tasks on a process pool of ``workers`` (spawned, so nothing is inherited by fork).

    At most ``workers`` points are handed to the pool at a time, so that an interruption stops
    after the running points instead of after whatever the pool had queued. When a worker dies
    (killed, out of memory) the pool is replaced and the points it was running are tried again,
    ``attempts`` times in all; then they are reported as :class:`WorkerLost`.
    """
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=watch_parent, initargs=(os.getpid(),))

    pool = new_pool()
    queue = list(tasks)
    tries = {t["point"]: 0 for t in tasks}
    running: dict = {}
    try:
        while queue or running:
            while queue and len(running) < workers:
                task = queue.pop(0)
                tries[task["point"]] += 1
                running[pool.submit(run, task)] = task
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for fut in sorted(done, key=lambda f: running[f]["index"]):
                task = running.pop(fut)
                try:
                    rec = fut.result()
                except BrokenProcessPool as err:
                    broken = True
                    if tries[task["point"]] < attempts:
                        queue.insert(0, task)
                    else:
                        yield task, WorkerLost(f"a worker process died ({tries[task['point']]} "
                                               f"attempts): {err}")
                    continue
                yield task, rec
            if broken:  # every future of a broken pool fails: retry them all on a new pool
                for fut, task in sorted(running.items(), key=lambda kv: kv[1]["index"],
                                        reverse=True):
                    queue.insert(0, task)
                    tries[task["point"]] -= 1  # not its fault
                running.clear()
                pool.shutdown(wait=True, cancel_futures=True)
                pool = new_pool()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def dask_executor(tasks: list[dict], workers: int, scheduler: str,
                  run: Callable[[dict], dict]) -> Iterable[tuple[dict, Any]]:
    """Run the tasks on a Dask cluster: ``scheduler`` is ``tcp://host:port`` or ``local``
    (a LocalCluster of ``workers`` single-threaded worker processes, closed afterwards)."""
    from distributed import Client, LocalCluster, as_completed
    from distributed.scheduler import KilledWorker

    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as err:
            raise SchedulerUnreachable(
                f"cannot reach the Dask scheduler at {scheduler} "
                f"({str(err).splitlines()[0] if str(err) else type(err).__name__}): is it "
                "running (`dask scheduler`), and is the address right?") from None
    futures = {}
    try:
        for t in tasks:
            futures[client.submit(run, t, key=f"facexai-sweep-{t['point']}-{t['key']}-"
                                  f"{time.time_ns()}", pure=False)] = t
        for fut in as_completed(list(futures)):
            try:
                yield futures[fut], fut.result()
            except KilledWorker as err:
                yield futures[fut], WorkerLost(f"the Dask worker died: {err}")
    finally:
        client.cancel(list(futures))
        client.close()
        if cluster is not None:
            cluster.close()
