"""The ``facexai`` command: build the book, make data, check the rendered site, benchmark.

Run ``facexai --help`` (or ``python -m facexai --help``) for the sub-commands.
"""
from __future__ import annotations

import argparse
import sys

from . import paths


def _cmd_book(args: argparse.Namespace) -> int:
    from .book import build

    build(args.profile, html=not args.no_html, only=args.only or None)
    return 0


def _cmd_check_site(args: argparse.Namespace) -> int:
    from .browser import check_site, html_pages

    html = args.html or paths.build_dir() / "html"
    shot = args.screenshot or paths.build_dir() / "screenshot.png"
    problems = check_site(html, screenshot=shot)
    for p in problems:
        print(p)
    n = len(html_pages(html))
    print(f"{n} pages checked in {html}: {len(problems)} problem(s); screenshot of the first page: "
          f"{shot}")
    return 1 if problems else 0


def _cmd_data(args: argparse.Namespace) -> int:
    from .params import load_profile
    from .synth.dataset import ensure_dataset

    values = load_profile(args.profile)["data_synthetic"]
    path = ensure_dataset(n=values["n_faces"], seed=values["seed"], size=values["image_size"],
                          n_raters=values["n_raters"], nuisance_scale=values["nuisance_scale"],
                          workers=values["workers"], log=print)
    print(f"synthetic faces for profile {args.profile!r}: {path}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facexai", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("book", help="execute every notebook under a profile and build the HTML book")
    p.add_argument("--profile", default="default", help="params/<profile>.yml (default: default)")
    p.add_argument("--only", nargs="*", help="re-execute only these notebooks (others are reused)")
    p.add_argument("--no-html", action="store_true", help="execute the notebooks, skip Jupyter Book")
    p.set_defaults(func=_cmd_book)

    p = sub.add_parser("check-site", help="open every page of the built book in headless Chromium")
    p.add_argument("--html", type=paths.Path, help="HTML folder (default: _build/html)")
    p.add_argument("--screenshot", type=paths.Path, help="PNG of the first page "
                   "(default: _build/screenshot.png)")
    p.set_defaults(func=_cmd_check_site)

    p = sub.add_parser("data", help="make the synthetic data a profile needs (reused when present)")
    p.add_argument("what", choices=["synth"], help="which data")
    p.add_argument("--profile", default="default")
    p.set_defaults(func=_cmd_data)

    p = sub.add_parser("bench", help="benchmarks: generator faces/s, book build time")
    p.add_argument("--profile", default="default", help="profile whose book build is timed")
    p.add_argument("--skip-book", action="store_true", help="do not time a book build")
    p.set_defaults(func=_cmd_bench)

    args = parser.parse_args(argv)
    from .book import BuildError
    from .params import ParameterError

    try:
        return args.func(args)
    except (BuildError, ParameterError, FileNotFoundError) as err:
        print(f"facexai {args.command}: error: {err}", file=sys.stderr)
        return 2
