"""Checking the rendered book in a real browser (headless Chromium driven by Playwright).

Every HTML page of the build is opened from a local HTTP server. A page fails the check when

* an image does not load (``naturalWidth == 0``),
* a local link points at a file that does not exist, or at an anchor the target page lacks,
* a local request answers with an HTTP error, or
* the page throws a JavaScript error.

Requests to other hosts are blocked (this study's machines have no network; a published book must
not need one to show its figures). Chromium comes from Debian (``/usr/bin/chromium``): Playwright's
own browser download cannot work offline.
"""
from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]

_ID = re.compile(r"""\bid=["']([^"']+)["']""")
_REFRESH = re.compile(r"""<meta\s+http-equiv=["']refresh["']\s+content=["'][^"']*url=([^"']+)["']""", re.I)

_IMAGES_JS = """async () => {
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null :
      new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })));
  return imgs.map(i => ({src: i.currentSrc || i.src, w: i.naturalWidth}));
}"""


@dataclass(frozen=True)
class Problem:
    page: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.page}: {self.kind}: {self.detail}"


def find_chromium() -> str:
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise FileNotFoundError("Chromium not found: install Debian's package ('apt-get install "
                            "chromium', which `make deps` does) to run the browser check")


def html_pages(html_dir: Path) -> list[Path]:
    """Every page of a Sphinx HTML build (not the copied sources or static assets)."""
    skip = {"_static", "_sources", "_images", "_sphinx_design_static"}
    return sorted(p for p in html_dir.rglob("*.html")
                  if not skip.intersection(p.relative_to(html_dir).parts))


def _anchors(page: Path, cache: dict[Path, set[str]]) -> set[str]:
    if page not in cache:
        cache[page] = set(_ID.findall(page.read_text(encoding="utf-8", errors="replace")))
    return cache[page]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output readable
        pass


def check_site(html_dir: Path | str, screenshot: Path | str | None = None,
               timeout_ms: int = 30_000) -> list[Problem]:
    """Open every page of ``html_dir`` in headless Chromium; return the problems found.

    ``screenshot`` (optional) receives a PNG of the first page (``index.html``).
    """
    from playwright.sync_api import sync_playwright

    html_dir = Path(html_dir).resolve()
    pages = html_pages(html_dir)
    if not pages:
        return [Problem(str(html_dir), "no pages", "the folder holds no HTML pages")]
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    problems: list[Problem] = []
    anchor_cache: dict[Path, set[str]] = {}
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", lambda route: route.continue_()
                          if route.request.url.startswith(base) or
                          route.request.url.startswith("data:") else route.abort())
            first = _follow_redirect(html_dir / "index.html")
            order = sorted(pages, key=lambda p: p != first)
            for i, page_path in enumerate(order):
                rel = page_path.relative_to(html_dir).as_posix()
                redirect = _REFRESH.search(page_path.read_text(encoding="utf-8", errors="replace"))
                if redirect:  # a meta-refresh page (the root index.html): only its target matters
                    problems.extend(_check_link(html_dir, page_path, rel,
                                                urljoin(base + rel, redirect.group(1)), base,
                                                anchor_cache))
                    continue
                page = context.new_page()
                page.on("pageerror", lambda exc, rel=rel: problems.append(
                    Problem(rel, "page error", str(exc))))
                page.on("response", lambda resp, rel=rel: problems.append(
                    Problem(rel, "http error", f"{resp.status} {resp.url}"))
                    if resp.url.startswith(base) and resp.status >= 400 else None)
                page.goto(base + rel, wait_until="load", timeout=timeout_ms)
                for img in page.evaluate(_IMAGES_JS):
                    if img["w"] == 0:
                        problems.append(Problem(rel, "image not loaded", img["src"]))
                hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
                for href in hrefs:
                    problems.extend(_check_link(html_dir, page_path, rel, href, base, anchor_cache))
                if i == 0 and screenshot is not None:
                    Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(screenshot), full_page=False)
                page.close()
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return problems


def _follow_redirect(page: Path) -> Path:
    """The page a meta-refresh page points at (or the page itself)."""
    if page.is_file():
        match = _REFRESH.search(page.read_text(encoding="utf-8", errors="replace"))
        if match:
            target = (page.parent / unquote(urldefrag(match.group(1))[0])).resolve()
            if target.is_file():
                return target
    return page


def _check_link(html_dir: Path, page_path: Path, rel: str, href: str, base: str,
                cache: dict[Path, set[str]]) -> list[Problem]:
    if not href.startswith(base):
        return []  # another host, mailto:, javascript: ... not a local link
    url, fragment = urldefrag(href)
    target = html_dir / unquote(urlparse(url).path).lstrip("/")
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return [Problem(rel, "broken link", href)]
    if fragment and target.suffix == ".html" and unquote(fragment) not in _anchors(target, cache):
        return [Problem(rel, "broken anchor", href)]
    return []
