"""A small Sphinx extension for this book: drop exact-duplicate ``<script>`` entries.

With jupyter-book 1.0.4 / Sphinx 7.4 the ``env-before-read-docs`` event fires twice, so sphinx-thebe
adds its inline ``const THEBE_JS_URL = ...`` script twice and every page throws
"Identifier 'THEBE_JS_URL' has already been declared" in the browser (found by the browser check).
Removing the second copy of an identical script fixes it without touching the packages.
"""
from __future__ import annotations


def _dedupe_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        # Same file (or same inline body) and attributes; the second copy differs only in its
        # priority and in spelling "no file" as '' instead of None.
        key = (str(getattr(js, "filename", js) or ""),
               tuple(sorted((k, str(v)) for k, v in getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
