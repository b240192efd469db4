"""Benchmarks (``make bench``): SynthFace generator throughput and the default book's build time.

Measured, not asserted: the numbers go to stdout and to ``<build>/bench.json``. Timed tests would be
flaky on a shared 2-core machine; a benchmark reports what it saw.
"""
from __future__ import annotations

import json
import os
import tempfile
import time

from . import paths


def generator_throughput(sizes=(48, 96, 128, 256), n: int = 300) -> dict[int, float]:
    """Faces per second (sample the parameters + render), one process, best of 3 runs per size."""
    from .synth.generate import faces_per_second

    return {size: max(faces_per_second(n=n if size <= 128 else n // 3, size=size) for _ in range(3))
            for size in sizes}


def parallel_throughput(size: int = 96, n: int = 600, workers: int = 2) -> float:
    """Faces per second of :func:`render_batch` with a process pool."""
    from .synth.dataset import sample_population
    from .synth.generate import render_batch

    params = sample_population(n, seed=1)
    t0 = time.perf_counter()
    render_batch(params, size, workers=workers)
    return n / (time.perf_counter() - t0)


def book_build_time(profile: str) -> dict:
    """Build the whole book under ``profile`` from a cold data cache, in a scratch folder."""
    from .book import build

    with tempfile.TemporaryDirectory(prefix="facexai-bench-") as scratch, paths.environment(
            {"FACEXAI_BUILD": f"{scratch}/_build", "FACEXAI_DATA": f"{scratch}/data"}):
        t0 = time.perf_counter()
        build(profile, log=lambda *a: None)
        total = time.perf_counter() - t0
        summary = json.loads((paths.build_dir() / "executed" / profile / "build.json").read_text())
    return {"profile": profile, "wall_s": round(total, 1), **summary}


def main(args) -> int:
    results: dict = {"cpu_count": os.cpu_count()}
    print("SynthFace generator, one process (sample parameters + render), best of 3:")
    gen = generator_throughput()
    for size, fps in gen.items():
        print(f"  {size:>3} px: {fps:7.0f} faces/s")
    results["faces_per_s_one_process"] = gen
    fps2 = parallel_throughput()
    print(f"  96 px, render_batch with 2 workers: {fps2:.0f} faces/s")
    results["faces_per_s_2_workers_96px"] = round(fps2, 1)
    if not args.skip_book:
        print(f"Book build, profile {args.profile!r}, cold data cache (scratch folder) ...")
        book = book_build_time(args.profile)
        print(f"  total {book['wall_s']:.1f} s: notebooks {book['notebooks_s']:.1f} s "
              f"({', '.join(f'{k} {v:.1f} s' for k, v in book['notebooks'].items())}), "
              f"jupyter-book {book['html_s']:.1f} s")
        results["book"] = book
    out = paths.build_dir() / "bench.json"
    paths.write_text_atomic(out, json.dumps(results, indent=1))
    print(f"written to {out}")
    return 0
