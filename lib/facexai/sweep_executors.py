"""Where a sweep's points run: a local process pool or a Dask cluster. Each executor takes the
points' tasks and yields ``(task, record)`` as they finish; a point whose worker died yields
``(task, WorkerLost)``."""
from __future__ import annotations

import time
from typing import Any, Callable, Iterable

class WorkerLost(RuntimeError):
    """A worker died while running a point (killed, out of memory): the point did not run."""


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
                                   mp_context=multiprocessing.get_context("spawn"))

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
        client = Client(scheduler)
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
