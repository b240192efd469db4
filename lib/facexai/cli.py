"""The ``facexai`` command: build the book, make data, check the rendered site, benchmark.

Run ``facexai --help`` (or ``python -m facexai --help``) for the sub-commands.
"""
from __future__ import annotations

import argparse
import sys

from . import paths


def _cmd_book(args: argparse.Namespace) -> int:
    from .book import build
    from .locks import ensure_writable

    ensure_writable(paths.build_dir(), "the build folder", "FACEXAI_BUILD")

    def make_data() -> None:
        """What `make data` does, when a notebook is about to be executed (a rebuild that
        executes nothing does not spend the start-up of the data commands)."""
        for what in ("synth", "twins"):
            _cmd_data(argparse.Namespace(what=what, profile=args.profile))

    build(args.profile, html=not args.no_html, only=args.only or None, force=args.force,
          prepare=None if args.no_data else make_data)
    return 0


def _cmd_check_site(args: argparse.Namespace) -> int:
    from .browser import check_site, html_pages

    html = args.html or paths.html_dir()
    shot = args.screenshot or paths.build_dir() / "screenshot.png"
    problems = check_site(html, screenshot=shot)
    for p in problems:
        print(p)
    n = len(html_pages(html))
    print(f"{n} pages checked in {html}: {len(problems)} problem(s); screenshot of the first page: "
          f"{shot}")
    return 1 if problems else 0


def _cmd_data(args: argparse.Namespace) -> int:
    if args.what == "check":
        return _cmd_data_check(args)
    if args.what == "twins":
        return _cmd_data_twins(args)
    from .params import load_profile
    from .synth.dataset import ensure_dataset

    values = load_profile(args.profile)["data_synthetic"]
    path = ensure_dataset(n=values["n_faces"], seed=values["seed"], size=values["image_size"],
                          n_raters=values["n_raters"], nuisance_scale=values["nuisance_scale"],
                          workers=values["workers"], log=print, proxies=values["proxies"])
    print(f"synthetic faces for profile {args.profile!r}: {path}")
    return 0


def _cmd_data_check(args: argparse.Namespace) -> int:
    """Load a real copy without the cache (nothing is written) and print what was found. TFD:
    every ``TFD_*.mat`` present, or the one of ``--size``. Exit 1 on any problem."""
    from .datasets import DatasetError, get

    size, leak = getattr(args, "size", None), getattr(args, "allow_identity_leak", False)
    try:
        get(args.dataset)
    except DatasetError as err:
        print(f"facexai data check: {args.dataset} at {args.path}: FAILED: "
              f"{type(err).__name__}: {err}", file=sys.stderr)
        return 1
    if args.dataset != "tfd" and (size or leak):
        print("facexai data check: error: --size and --allow-identity-leak apply to --dataset tfd "
              f"only, not {args.dataset}", file=sys.stderr)
        return 2
    if args.dataset == "tfd":
        sizes = [size] if size else [s for s in (96, 48)
                                     if (args.path / f"TFD_{s}x{s}.mat").is_file()] or [96]
        runs = [{"image_size": s, "allow_identity_leak": leak} for s in sizes]
    else:  # CK+: validate the files, not the face detection
        runs = [{"crop": None} if args.dataset == "ckplus" else {}]
    return max([_check_copy(args, options) for options in runs])


def _check_copy(args: argparse.Namespace, options: dict) -> int:
    """One ``data check`` load: the summary and OK, or the problems (exit 1)."""
    from .datasets import DatasetError, get
    from .datasets.report import summary

    what = f"{args.dataset} at {args.path}" + (f" ({options['image_size']} px file)"
                                               if "image_size" in options else "")
    try:
        ds = get(args.dataset).load(args.path, cache=False, **options)
    except (DatasetError, OSError) as err:
        print(f"facexai data check: {what}: FAILED: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print("\n".join(summary(ds)))
    if len(ds) == 0:  # never OK without a usable image (the loaders raise first)
        print(f"facexai data check: {what}: FAILED: no usable image", file=sys.stderr)
        return 1
    leaks = ds.notes.get("identity_leaks")
    print(f"{what}: " + ("OK" if not ds.skipped else f"{len(ds.skipped)} problem(s) found")
          + (f"; identity leak allowed by --allow-identity-leak: {leaks[0]}" if leaks else ""))
    return 1 if ds.skipped else 0


def _cmd_data_twins(args: argparse.Namespace) -> int:
    """Write every synthetic twin the profile's Data chapter loads (reused when present)."""
    from .datasets import dataset_roots
    from .params import load_profile

    values = load_profile(args.profile)["data_formats"]
    if values["data_dir"]:
        print(f"profile {args.profile!r} reads the real datasets from {values['data_dir']!r} "
              "(relative to $FACEXAI_DATA): no twins to write")
        return 0
    for key, root in dataset_roots(values, log=print).items():
        print(f"{key} twin for profile {args.profile!r}: {root}")
    return 0


def _cmd_execute(args: argparse.Namespace) -> int:
    """Execute one notebook with its profile's parameters, as the book build does, and store it
    under its key: the next ``facexai book`` reuses it (and executes what reads it, if needed)."""
    from .book import BuildError, execute_cached, notebook_keys, toc_notebooks
    from .locks import ensure_writable
    from .params import load_profile

    ensure_writable(paths.build_dir(), "the build folder", "FACEXAI_BUILD")

    values = load_profile(args.profile)
    source = paths.notebooks_dir() / f"{args.notebook}.md"
    if not source.is_file():
        raise BuildError(f"no notebook {args.notebook!r} ({source})")
    if args.notebook not in values:
        raise BuildError(f"profile {args.profile!r} gives no parameters for {args.notebook!r} "
                         f"(params/{args.profile}.yml)")
    names = [n for n in toc_notebooks() if n in values]
    names += [] if args.notebook in names else [args.notebook]
    key, parts = notebook_keys(names, values, args.profile)[args.notebook]
    out = paths.executed_notebooks_dir(args.profile) / f"{args.notebook}.ipynb"
    rec = execute_cached(args.notebook, out, values[args.notebook], args.profile, key, parts)
    print(f"{args.notebook} ({args.profile}): {rec['papermill_duration_s']:.1f} s, peak "
          f"{rec['peak_memory_mb']:.0f} MiB, key {key} -> {out}")
    for name, value in rec.get("results", {}).items():
        if not isinstance(value, dict):
            print(f"  {name} = {value}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    """Validate every point of sweeps/<name>.yml, then run those not done yet.

    Exit status: 0 when every point is done; otherwise the number of points that failed or did not
    run (at most 100); 125 when the sweep is refused before anything runs (bad file or grid).
    """
    from .params import ParameterError
    from .sweep import load_sweep, run_sweep

    try:
        sw = load_sweep(args.name)  # refuses a bad grid before anything runs
    except (ParameterError, FileNotFoundError) as err:
        print(f"facexai sweep: refused: {err}", file=sys.stderr)
        return 125
    if args.dry_run:
        print(f"sweep {sw.name!r}: {len(sw.points)} valid point(s) of {sw.notebook} "
              f"(profile {sw.profile}):")
        for p in sw.points:
            print(f"  {p.id}: {p.values}")
        return 0
    scheduler = args.scheduler
    try:
        report = run_sweep(sw, workers=args.workers, scheduler=scheduler, force=args.force,
                           threads=args.threads or None)
    except KeyboardInterrupt:
        print(f"facexai sweep: interrupted; the finished points are kept, run `facexai sweep "
              f"{args.name}` again to complete the sweep", file=sys.stderr)
        return 130
    for rec in report.failed:
        print(f"FAILED {rec['point']}: {rec['error']}", file=sys.stderr)
    if report.n_failed or report.not_run:
        print(f"facexai sweep: {report.n_failed} of {len(report.records)} point(s) failed"
              + (f", {len(report.not_run)} not run" if report.not_run else ""), file=sys.stderr)
        return min(report.n_failed + len(report.not_run), 100)
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main(args)


def _book_parsers(sub) -> None:
    """book, execute, check-site."""

    p = sub.add_parser("book", help="execute every notebook under a profile and build the HTML book")
    p.add_argument("--profile", default="default", help="params/<profile>.yml (default: default)")
    p.add_argument("--only", nargs="*", help="execute these notebooks and take the others as they "
                   "are, even out of date (the Reproducibility page says which are)")
    p.add_argument("--no-html", action="store_true", help="execute the notebooks, skip Jupyter Book")
    p.add_argument("--force", action="store_true", help="execute every notebook again, even those "
                   "whose source, parameters, library code and input data did not change")
    p.add_argument("--no-data", action="store_true", help="do not make the profile's synthetic "
                   "data before executing a notebook (the notebooks make what they miss)")
    p.set_defaults(func=_cmd_book)

    p = sub.add_parser("execute", help="execute one notebook under a profile (no HTML); its "
                       "executed copy and run record go to _build/executed/<profile>/notebooks/, "
                       "where the next book build reuses them")
    p.add_argument("notebook", help="name of a notebook in notebooks/ (without .md)")
    p.add_argument("--profile", default="default", help="params/<profile>.yml (default: default)")
    p.set_defaults(func=_cmd_execute)

    p = sub.add_parser("check-site", help="open every page of the built book in headless Chromium")
    p.add_argument("--html", type=paths.Path, help="HTML folder (default: _build/html)")
    p.add_argument("--screenshot", type=paths.Path, help="PNG of the first page "
                   "(default: _build/screenshot.png)")
    p.set_defaults(func=_cmd_check_site)


def _tool_parsers(sub) -> None:
    """data, sweep, bench."""
    p = sub.add_parser("data", help="make the synthetic data a profile needs (reused when present), "
                       "or check a real dataset")
    data_sub = p.add_subparsers(dest="what", required=True)
    q = data_sub.add_parser("synth", help="the SynthFace population of the profile")
    q.add_argument("--profile", default="default")
    q = data_sub.add_parser("twins", help="the synthetic twins of the real datasets, in their layouts")
    q.add_argument("--profile", default="default")
    q = data_sub.add_parser("check", help="validate a real copy of a dataset (it is never modified)")
    q.add_argument("path", type=paths.Path, help="the dataset's folder")
    q.add_argument("--dataset", required=True,
                   help="registry key: tenk, kdef, ckplus, tfd or utkface")
    q.add_argument("--size", type=int, choices=(48, 96), help="TFD: check TFD_<size>x<size>.mat "
                   "only (default: every TFD file present)")
    q.add_argument("--allow-identity-leak", action="store_true", help="TFD: report an identity in "
                   "two roles of an official fold instead of failing")
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("sweep", help="run a parameter sweep (sweeps/<name>.yml) with papermill; "
                       "results in _build/sweeps/<name>/results.parquet and .csv")
    p.add_argument("name", help="a sweep file in sweeps/ (without .yml)")
    p.add_argument("--workers", type=int, default=1, help="points run at once (default 1)")
    p.add_argument("--scheduler", help="run on Dask: tcp://host:port of a scheduler, or 'local' "
                   "for a LocalCluster of --workers processes (default: a local process pool)")
    p.add_argument("--dry-run", action="store_true", help="validate and list the points only")
    p.add_argument("--force", action="store_true", help="rerun points already done")
    p.add_argument("--threads", type=int, default=1, help="threads of each point's kernel "
                   "(OMP_NUM_THREADS; default 1 whatever the workers; 0: leave the default)")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("bench", help="benchmarks: generator faces/s, explainer cost, sweep "
                       "scaling, the book's warm rebuild and cold build times")
    p.add_argument("--profile", default="default", help="profile whose book build is timed")
    p.add_argument("--skip-book", action="store_true", help="do not time a book build")
    p.add_argument("--book-only", action="store_true", help="only the book build times")
    p.add_argument("--cold", action="store_true", help="measure a cold build (every notebook "
                   "executed, in a scratch folder) instead of reading the last recorded one")
    p.add_argument("--sweep-only", action="store_true",
                   help="only the sweep benchmark (8 points with 1 and 2 workers)")
    p.set_defaults(func=_cmd_bench)


def main(argv: list[str] | None = None) -> int:
    """Run a sub-command. An error is one line on stderr, ``facexai <command>: error: ...``, and
    exit status 2 (the traceback with ``--debug``): the project's own errors (bad parameters,
    data, notebooks, sweeps) as they are, a missing or unreadable file or bad input (``OSError``,
    ``ValueError``, ``KeyError``) with its type, anything else with a hint to ``--debug``."""
    parser = argparse.ArgumentParser(prog="facexai", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    _book_parsers(sub)
    _tool_parsers(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Exception as err:  # noqa: BLE001 - KeyboardInterrupt is not an Exception
        if args.debug:
            raise
        own = any(c.__module__.split(".")[0] == "facexai" for c in type(err).__mro__)
        text = str(err) if own else f"{type(err).__name__}: {err}"
        text = "; ".join(line.strip() for line in text.splitlines() if line.strip())
        if not own and not isinstance(err, (OSError, ValueError, KeyError)):
            text += " (run with --debug for the traceback)"
        print(f"facexai {args.command}: error: {text}", file=sys.stderr)
        return 2
