"""Benchmarks (``make bench``): SynthFace generator throughput, explanation throughput (each
explainer's time as a ratio to a plain input-gradient pass, and whether LRP's EpsilonPlusFlat and
EpsilonGammaBox keep within :data:`LRP_GOAL` of it, beside zennit's own composites), the scaling
of a sweep with its workers and the default book's build time: the warm rebuild (every notebook
reused, as after a prose edit; goal <= 60 s) beside the cold build (every notebook executed), the
latter measured with ``--cold`` or else read from the last cold build recorded in ``build.json``
(the output says which).

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


#: The goal for a rebuild in which no notebook needs executing (a prose edit), in seconds.
WARM_GOAL_S = 60.0


def _timed_build(profile: str) -> dict:
    """``facexai book --profile <profile>`` in a new process, as ``make book`` runs it (start-up
    and imports included); its wall time and ``build.json``."""
    import subprocess
    import sys

    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "facexai", "book", "--profile", profile],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the book build failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    summary = json.loads((paths.executed_dir(profile) / "build.json").read_text(encoding="utf-8"))
    return {"wall_s": round(wall, 1), **summary}


def book_build_time(profile: str) -> dict:
    """A cold and a warm build of the book under ``profile`` in a scratch folder.

    The cold build starts from nothing (no executed notebook, no data): it executes every notebook.
    The warm one follows with nothing changed, as after a prose edit (prose is part of no
    notebook's key): it reuses every notebook and only runs Jupyter Book.
    """
    with tempfile.TemporaryDirectory(prefix="facexai-bench-") as scratch, paths.environment(
            {"FACEXAI_BUILD": f"{scratch}/_build", "FACEXAI_DATA": f"{scratch}/data"}):
        cold = _timed_build(profile)
        warm = _timed_build(profile)
    return {"profile": profile, "cold": cold, "warm": warm,
            "cold_source": "measured now, in a scratch folder with no data and no executed "
                           "notebook"}


def book_warm_time(profile: str) -> dict:
    """The warm rebuild of the book under ``profile`` in the project's own build folder, beside
    the last cold build recorded there (``build.json``), without running a cold one.

    A first build brings the folder up to date (executing what changed; when that is every
    notebook, it is reported as the cold build, measured now); the second, with nothing changed,
    is the warm rebuild.
    """
    first = _timed_build(profile)
    warm = _timed_build(profile) if first["executed"] else first
    if first["executed"] and not first["reused"]:
        cold, source = first, ("measured now: every notebook had to be executed (generated "
                               "data and Jupyter Book's environment may have been there already)")
    elif warm.get("cold"):
        cold = {**warm["cold"], "wall_s": warm["cold"]["total_s"]}
        source = (f"read from the last cold build recorded in "
                  f"{paths.executed_dir(profile) / 'build.json'} ({warm['cold']['date']}), "
                  "not measured now")
    else:
        cold, source = None, "no cold build recorded in this build folder"
    return {"profile": profile, "cold": cold, "warm": warm, "cold_source": source,
            "brought_up_to_date": first["executed"] if warm is not first else []}


def print_book_times(res: dict) -> None:
    warm, cold = res["warm"], res["cold"]
    n = len(warm["notebooks"])
    if res.get("brought_up_to_date"):
        print(f"  (first brought up to date: executed {', '.join(res['brought_up_to_date'])})")
    verdict = "met" if warm["wall_s"] <= WARM_GOAL_S else "NOT met"
    print(f"  warm rebuild ({len(warm['reused'])} of {n} notebooks reused, "
          f"{len(warm['executed'])} executed): {warm['wall_s']:.1f} s = start-up "
          f"{warm['wall_s'] - warm['total_s']:.1f} s + parameters and keys "
          f"{warm['notebooks_s']:.1f} s + jupyter-book {warm['html_s']:.1f} s; "
          f"goal <= {WARM_GOAL_S:.0f} s: {verdict}")
    if cold is None:
        print(f"  cold build: unknown ({res['cold_source']}); `facexai bench --cold` "
              "(make bench COLD=1) measures one in a scratch folder")
        return
    print(f"  cold build: {cold['wall_s']:.1f} s (notebooks {cold['notebooks_s']:.1f} s, "
          f"jupyter-book {cold['html_s']:.1f} s): {res['cold_source']}")
    per = cold.get("notebooks")
    if per:
        print("    " + ", ".join(f"{k} {v:.1f} s" for k, v in per.items()))


def sweep_scaling(n_points: int = 8, workers=(1, 2), repeats: int = 1) -> dict:
    """Time an ``n_points`` sweep of the probe notebook (``tests/data/sweep_probe.md``, whose own
    work takes milliseconds) on the local pool with each number of ``workers``, in a scratch build.

    The per-point overhead is the mean wall time of a point with one worker: starting a worker's
    papermill run, the kernel, its imports (numpy, pandas, facexai) and writing the notebook.
    Returns the times, the overhead and the speed-up of each worker count over one worker.
    """
    from . import sweep

    spec = {"notebook": str(paths.root() / "tests" / "data" / "sweep_probe.md"),
            "set": {"n": 100, "scale": 1.0, "fail": False, "sleep": 0.0, "label": "bench"},
            "grid": {"seed": list(range(n_points))}}
    # other processes on the machine take cores from the workers: say how busy it was
    out: dict = {"points": n_points, "wall_s": {}, "point_mean_s": {},
                 "load_average_before": round(os.getloadavg()[0], 2)}
    for w in workers:
        best = None
        for _ in range(repeats):
            with tempfile.TemporaryDirectory(prefix="facexai-bench-sweep-") as scratch, \
                    paths.environment({"FACEXAI_BUILD": f"{scratch}/_build"}):
                report = sweep.run_sweep(sweep.make_sweep("bench", spec), workers=w,
                                         log=lambda *a: None)
                if report.n_failed or report.not_run or len(report.ran) != n_points:
                    raise RuntimeError(f"benchmark sweep did not complete: {report.summary()}")
                if best is None or report.wall_s < best[0]:
                    best = (report.wall_s, sum(r["wall_s"] for r in report.records) / n_points)
        out["wall_s"][w] = round(best[0], 2)
        out["point_mean_s"][w] = round(best[1], 2)
    base = out["wall_s"][workers[0]]
    out["overhead_per_point_s"] = out["point_mean_s"][workers[0]]
    out["speedup"] = {w: round(base / t, 2) for w, t in out["wall_s"].items()}
    out["load_average_after"] = round(os.getloadavg()[0], 2)
    return out


#: Options of the multi-pass explainers in the throughput table (their cost grows with them).
THROUGHPUT_OPTIONS = {"occlusion": {"window": 16, "stride": 8}}
#: Methods timed once (many passes each); the others are timed best of ``repeats``.
_MULTI_PASS = ("smoothgrad", "integrated_gradients", "occlusion")
#: The goal for the two LRP composites of the issue: at most this many plain input gradients.
LRP_GOAL = 1.5
#: Those composites: our key and the label of zennit's own composite of the same rules.
LRP_GOAL_METHODS = {"lrp_epsilon_plus_flat": "EpsilonPlusFlat",
                    "lrp_epsilon_gamma_box": "EpsilonGammaBox"}


def _best(fn, n: int) -> float:
    """The shortest of ``n`` timed calls of ``fn`` (seconds)."""
    return _best_in_turn({"fn": fn}, n)["fn"]


def _best_in_turn(fns: dict, n: int) -> dict:
    """The shortest of ``n`` timed calls of each function, the functions called in turn: on a
    machine whose load changes, each sees the same load (a ratio of two bests stays fair)."""
    best = {k: float("inf") for k in fns}
    for _ in range(n):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def _zennit(model, x, composite) -> None:
    """zennit's own attribution of class 0 for a batch (the reference for the LRP timings)."""
    import torch
    from zennit.attribution import Gradient

    with Gradient(model, composite) as attributor:
        attributor(x.clone().requires_grad_(True), torch.eye(model(x[:1]).shape[1])[[0] * len(x)])


def _bench_case(key: str, size: int, channels: int, batch: int, seed: int):
    """The randomly initialised model (eval mode) and random batch of one throughput case."""
    import torch
    from .models import build_model

    torch.manual_seed(seed)
    kwargs = {"input_size": size} if key == "zero_bias_cnn" else {}
    model = build_model(key, n_outputs=8 if key == "zero_bias_cnn" else 1, **kwargs).eval()
    return model, torch.randn(batch, channels, size, size)


def _lrp_in_turn(model, x, plain, box: dict, repeats: int) -> dict:
    """Seconds of the plain pass, our two goal methods and zennit's two composites on the same batch,
    timed in turn (best of ``repeats`` each); keys: ``"plain"`` and the table's method names."""
    from zennit import composites as zc
    from .explain import explain

    refs = {"EpsilonPlusFlat": zc.EpsilonPlusFlat(),
            "EpsilonGammaBox": zc.EpsilonGammaBox(low=box["low"], high=box["high"])}
    fns = {"plain": plain}
    for method, label in LRP_GOAL_METHODS.items():
        opts = box if method == "lrp_epsilon_gamma_box" else {}
        fns[method] = lambda m=method, o=opts: explain(model, x, 0, m, **o)
        fns[f"zennit {label} (reference)"] = lambda c=refs[label]: _zennit(model, x, c)
    return _best_in_turn(fns, repeats)


def explanation_throughput(cases=(("vgg16", 64, 3), ("zero_bias_cnn", 96, 1)), batch: int = 16,
                           repeats: int = 5, seed: int = 0) -> list[dict]:
    """Seconds per batch of every explainer, as a ratio to a plain input-gradient pass.

    For each ``(model key, image size, channels)`` a randomly initialised model (CPU, 2 threads)
    explains one batch of ``batch`` random images for class 0. The reference is a plain pass:
    ``x.requires_grad_()``, forward, ``torch.autograd.grad`` of the class score. Reference rows
    time zennit's own ``EpsilonPlusFlat`` / ``EpsilonGammaBox`` composites through its
    ``Gradient`` attributor and captum's ``LayerGradCam`` on the same batch. The two LRP methods
    of :data:`LRP_GOAL_METHODS`, zennit's two composites and the plain pass are also timed in
    turn, best of ``repeats`` each (the plain pass's time is the best it took in either series).
    Returns one row per (model, method).
    """
    import torch
    from captum.attr import LayerGradCam
    from .explain import EXPLAINERS, explain
    from .explain.cam import find_cam_layer

    torch.set_num_threads(2)

    rows = []
    for key, size, channels in cases:
        model, x = _bench_case(key, size, channels, batch, seed)

        def plain():
            xx = x.clone().requires_grad_(True)
            torch.autograd.grad(model(xx)[:, 0].sum(), xx)

        def forward():
            with torch.no_grad():
                model(x)

        plain()                                               # warm-up (allocator, kernels)
        base = _best(plain, repeats + 2)
        name, layer = find_cam_layer(model, None)
        lo, hi = float(x.min()), float(x.max())  # z-box bounds: the random batch's range, for
        box = {"low": lo, "high": hi}           # ours and zennit's alike
        timed = {"forward only (no_grad)": _best(forward, repeats)}
        for method in EXPLAINERS:
            opts = {**THROUGHPUT_OPTIONS.get(method, {}),
                    **(box if method == "lrp_epsilon_gamma_box" else {})}
            n = 1 if method in _MULTI_PASS else repeats
            timed[method] = None if method in LRP_GOAL_METHODS else \
                _best(lambda: explain(model, x, 0, method, **opts), n)    # (those: in turn below)
        in_turn = _lrp_in_turn(model, x, plain, box, repeats)
        base = min(base, in_turn.pop("plain"))
        timed.update(in_turn)
        lgc = LayerGradCam(model, layer)
        timed[f"captum LayerGradCam at {name} (reference)"] = _best(
            lambda: lgc.attribute(x, 0), repeats)
        for method, seconds in timed.items():
            rows.append({"model": key, "size": size, "batch": batch, "method": method,
                         "s_per_batch": round(seconds, 3), "ratio": round(seconds / base, 2),
                         "plain_gradient_s": round(base, 3),
                         "options": THROUGHPUT_OPTIONS.get(method, {})})
    return rows


#: Training-step cases: the default profile's networks (paper 2's 24-px zero-bias CNN, paper 3's
#: VGG16 of width 4 with batch norm at 64 px, the Methods chapter's 64-px zero-bias CNN).
TRAINING_CASES = {
    "zero_bias_cnn 24 px (paper 2)": ("zero_bias_cnn", 24, 1, {"widths": (8, 16, 32), "hidden": 100}),
    "vgg16 w4 bn 64 px (paper 3)": ("vgg16", 64, 3, {"width": 4, "batch_norm": True, "dropout": 0.0}),
    "zero_bias_cnn 64 px (Methods)": ("zero_bias_cnn", 64, 1, {"widths": (16, 32, 64), "hidden": 128}),
}


def training_layouts(batch: int = 64, repeats: int = 5, steps: int = 10) -> list[dict]:
    """Seconds per SGD step of each :data:`TRAINING_CASES` network, one CPU thread, with its weights
    in the usual (NCHW) memory order and in the channels-last order that
    :func:`facexai.compute.channels_last` gives every training loop; the two timed in turn."""
    import copy

    import torch
    from .models import build_model
    from .compute import channels_last, cpu_threads

    rows = []
    with cpu_threads(1, torch.device("cpu")):
        for label, (key, size, channels, kwargs) in TRAINING_CASES.items():
            torch.manual_seed(0)
            extra = {"input_size": size} if key == "zero_bias_cnn" else {}
            base = build_model(key, n_outputs=8 if key == "zero_bias_cnn" else 1, **extra, **kwargs)
            x = torch.randn(batch, channels, size, size)
            y = torch.randint(0, 8, (batch,)) if key == "zero_bias_cnn" else torch.randn(batch, 1)
            loss = torch.nn.functional.cross_entropy if key == "zero_bias_cnn" else \
                torch.nn.functional.mse_loss
            models = {k: copy.deepcopy(base).train() for k in ("nchw", "channels_last")}
            opts = {k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, m in models.items()}

            def run(k):
                for _ in range(steps):
                    opts[k].zero_grad()
                    loss(models[k](x), y).backward()
                    opts[k].step()

            with channels_last(models["channels_last"], torch.device("cpu")):
                best = _best_in_turn({k: (lambda k=k: run(k)) for k in models}, repeats)
            rows.append({"model": label, "nchw_ms": 1e3 * best["nchw"] / steps,
                         "channels_last_ms": 1e3 * best["channels_last"] / steps,
                         "speedup": best["nchw"] / best["channels_last"]})
    return rows


def print_training_layouts(rows: list[dict]) -> None:
    print("Training step, one thread, batch 64, best of 5 (NCHW vs channels-last weights):")
    for r in rows:
        print(f"  {r['model']:<32} {r['nchw_ms']:7.1f} ms -> {r['channels_last_ms']:7.1f} ms  "
              f"x{r['speedup']:.2f}")


def lrp_goal(rows: list[dict]) -> list[dict]:
    """Per model and method of :data:`LRP_GOAL_METHODS`: our ratio, zennit's for the same
    composite, and whether ours is within :data:`LRP_GOAL`."""
    ratio = {(r["model"], r["size"], r["method"]): r["ratio"] for r in rows}
    out = []
    for model, size in dict.fromkeys((r["model"], r["size"]) for r in rows):
        for method, label in LRP_GOAL_METHODS.items():
            ours = ratio.get((model, size, method))
            if ours is not None:
                out.append({"model": model, "size": size, "method": method, "ratio": ours,
                            "zennit_ratio": ratio.get((model, size, f"zennit {label} (reference)")),
                            "met": ours <= LRP_GOAL})
    return out


def print_throughput(rows: list[dict]) -> None:
    """The throughput table as Markdown, one ratio column per model, then the LRP goal."""
    models = list(dict.fromkeys((r["model"], r["size"]) for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    ratio = {(r["model"], r["size"], r["method"]): r["ratio"] for r in rows}
    base = {(r["model"], r["size"]): r["plain_gradient_s"] for r in rows}
    head = " | ".join(f"{m} {s} px" for m, s in models)
    print(f"| method (ratio to a plain input gradient, batch {rows[0]['batch']}, CPU) | {head} |")
    print("|---|" + "---|" * len(models))
    print("| plain input gradient, s/batch | "
          + " | ".join(f"{base[m]:.3f} s" for m in models) + " |")
    for method in methods:
        print(f"| {method} | " + " | ".join(f"{ratio.get((m, s, method), float('nan')):.2f}"
                                            for m, s in models) + " |")
    goal = lrp_goal(rows)
    if goal:
        print(f"LRP goal: EpsilonPlusFlat and EpsilonGammaBox <= {LRP_GOAL:g} x a plain input "
              "gradient (timed in turn with it; zennit's own composite beside):")
    for g in goal:
        zen = "n/a" if g["zennit_ratio"] is None else f"{g['zennit_ratio']:.2f}"
        print(f"  {g['model']} {g['size']} px, {g['method']}: {g['ratio']:.2f} (zennit {zen}): "
              f"{'met' if g['met'] else 'NOT met'}")


def print_sweep_scaling(res: dict) -> None:
    print(f"Sweep of {res['points']} points of the probe notebook (local pool):")
    for w, t in res["wall_s"].items():
        print(f"  {w} worker(s): {t:.1f} s (mean point {res['point_mean_s'][w]:.2f} s), "
              f"speed-up x{res['speedup'][w]:.2f}")
    print(f"  overhead per point (kernel start + imports + papermill): "
          f"{res['overhead_per_point_s']:.2f} s; 1-minute load average "
          f"{res['load_average_before']:.1f} before, {res['load_average_after']:.1f} after "
          f"({os.cpu_count()} CPUs; other work on the machine lowers the speed-up)")


def bench_book(args) -> dict:
    cold = getattr(args, "cold", False)
    where = "a scratch folder: a cold build, then a warm one" if cold else \
        f"{paths.build_dir()}: a warm rebuild (--cold also measures a cold build)"
    print(f"Book build, profile {args.profile!r}, in {where} ...")
    res = book_build_time(args.profile) if cold else book_warm_time(args.profile)
    print_book_times(res)
    return res


def main(args) -> int:
    results: dict = {"cpu_count": os.cpu_count()}
    if getattr(args, "book_only", False):
        results["book"] = bench_book(args)
        out = paths.build_dir() / "bench-book.json"
        paths.write_text_atomic(out, json.dumps(results, indent=1))
        print(f"written to {out}")
        return 0
    if getattr(args, "sweep_only", False):
        results["sweep"] = res = sweep_scaling()
        print_sweep_scaling(res)
        out = paths.build_dir() / "bench-sweep.json"
        paths.write_text_atomic(out, json.dumps(results, indent=1))
        print(f"written to {out}")
        return 0
    print("SynthFace generator, one process (sample parameters + render), best of 3:")
    gen = generator_throughput()
    for size, fps in gen.items():
        print(f"  {size:>3} px: {fps:7.0f} faces/s")
    results["faces_per_s_one_process"] = gen
    fps2 = parallel_throughput()
    print(f"  96 px, render_batch with 2 workers: {fps2:.0f} faces/s")
    results["faces_per_s_2_workers_96px"] = round(fps2, 1)
    from .synth.generate import pairs_per_second

    pairs = max(pairs_per_second() for _ in range(3))
    print(f"  96 px, counterfactual pairs (face + AU12 off, same draws, mask): {pairs:.0f} pairs/s")
    results["counterfactual_pairs_per_s_96px"] = round(pairs, 1)
    print("Explanation throughput (random weights, best of 5; multi-pass methods once):")
    throughput = explanation_throughput()
    print_throughput(throughput)
    results["explanation_throughput"] = throughput
    results["lrp_goal"] = {"goal": LRP_GOAL, "rows": lrp_goal(throughput)}
    results["training_layouts"] = layouts = training_layouts()
    print_training_layouts(layouts)
    results["sweep"] = sweep_res = sweep_scaling()
    print_sweep_scaling(sweep_res)
    if not args.skip_book:
        results["book"] = bench_book(args)
    out = paths.build_dir() / "bench.json"
    paths.write_text_atomic(out, json.dumps(results, indent=1))
    print(f"written to {out}")
    return 0
