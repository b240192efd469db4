"""Paper 3's "Claims" table and "Deviations" list, generated from what the chapter recorded.

The chapter's summary page runs after the section notebooks (``execute_after`` in its front
matter) and reads their recorded results (:func:`facexai.run.results_of`). Every claim is a
function of those results: it states what the paper says, what this study measured, on which data,
and a status decided by a stated rule. A result that is missing (a notebook not run, a name not
recorded) makes its claim ``"not tested"`` and names what is missing; it never stops the page.

* :func:`gather` - the results of several notebooks, with the missing ones listed;
* :func:`table` - a recorded table (``{"table": [...]}``) as a DataFrame;
* :func:`claims_table` - the claims, one row each;
* :func:`deviations` - the bullet list under each notebook's "Deviations" heading, so that the
  chapter's list is the notebooks' own and cannot drift from them.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

#: Statuses a claim can have.
STATUSES: tuple[str, ...] = ("holds", "partly holds", "does not hold", "not tested")


def gather(notebooks, reader: Callable[[str], dict] | None = None) -> tuple[dict, list[str]]:
    """``({notebook: results}, [missing notebooks])`` for the chapter's notebooks.

    ``reader`` defaults to :func:`facexai.run.results_of` (this build's profile); a notebook whose
    record is missing maps to ``{}`` and is listed.
    """
    if reader is None:
        from ..run import results_of as reader
    out, missing = {}, []
    for name in notebooks:
        try:
            out[name] = reader(name)
        except FileNotFoundError:
            out[name] = {}
            missing.append(name)
    return out, missing


def table(value: Any) -> pd.DataFrame | None:
    """A recorded table result as a DataFrame (None for a missing or non-table value)."""
    if isinstance(value, dict) and isinstance(value.get("table"), list):
        frame = pd.DataFrame(value["table"])
        # a table recorded from a frame with a plain range index carries it as "index"
        plain = "index" in frame.columns and \
            (frame["index"].to_numpy() == np.arange(len(frame))).all()
        return frame.drop(columns=["index"]) if plain else frame
    return None


class _Needs:
    """Look results up, remembering which were missing."""

    def __init__(self, results: dict):
        self.results = results
        self.missing: list[str] = []

    def __call__(self, notebook: str, name: str, default=None):
        record = self.results.get(notebook) or {}
        value = record.get(name)
        if value is None:
            what = f"{notebook}.{name}" if record else f"{notebook} (no run record)"
            if what not in self.missing:
                self.missing.append(what)
            return default
        return value


def _column(frame: pd.DataFrame | None, *words: str, exclude=("aug",)) -> str | None:
    """The first column of ``frame`` whose lower-case name contains every word and none of
    ``exclude`` (unless asked for), or None."""
    if frame is None:
        return None
    exclude = [e for e in exclude if e not in words]
    for col in frame.columns:
        name = str(col).lower()
        if all(w in name for w in words) and not any(e in name for e in exclude):
            return col
    return None


def _numbers(frame: pd.DataFrame, *cols: str) -> pd.DataFrame:
    return frame[list(cols)].apply(pd.to_numeric, errors="coerce").dropna()


def _row(claim: str, paper: str, measured: str, data: str, status: str, missing=()) -> dict:
    if missing:
        status = "not tested"
        measured = (measured + "; " if measured else "") + "missing: " + ", ".join(missing)
    return {"claim": claim, "the paper": paper, "this study": measured, "data": data,
            "status": status}


def _fmt(x, digits=2) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else \
        f"{x:.{digits}f}"


def claims_table(results: dict, *, data: str, r_margin: float = 0.1,
                 min_share: float = 0.5) -> pd.DataFrame:
    """The chapter's claims, one row each: claim, the paper's number, this study's, data, status.

    Parameters
    ----------
    results : dict
        ``{notebook: results}`` (:func:`gather`) of ``paper3_predictive``,
        ``paper3_explanations``, ``paper3_manifolds`` and ``paper3_bias``.
    data : str
        Which data the numbers come from (``"synthetic twin"`` or ``"real database"``).
    r_margin : float
        Predictive power "holds" when this study's mean test r is at least the paper's mean VGG16
        r minus ``r_margin``, "partly holds" when it is positive but lower.
    min_share : float
        A claim about "the attributes" holds when it is true for at least this share of them,
        partly when for some.
    """
    need = _Needs(results)
    rows = []
    P = "paper3_predictive"
    comparison = table(results.get(P, {}).get("comparison"))

    def paper_mean(*words):
        """Mean of the paper's column whose name has ``words`` (None, and noted, if absent)."""
        col = _column(comparison, "paper", *words)
        if col is None:
            what = (f"{P}.comparison (the paper's {' '.join(words)} column)" if results.get(P)
                    else f"{P} (no run record)")
            if what not in need.missing:
                need.missing.append(what)
            return None
        return float(pd.to_numeric(comparison[col], errors="coerce").mean())

    def part(k, n):
        return "holds" if k >= min_share * n and n else "partly holds" if k else "does not hold"

    # 1. predictive power
    need.missing = []
    r_vgg = need(P, "mean_r_vgg16")
    paper_vgg = paper_mean("vgg16")
    status = "not tested"
    if r_vgg is not None and paper_vgg is not None:
        status = "holds" if r_vgg >= paper_vgg - r_margin else \
            "partly holds" if r_vgg > 0 else "does not hold"
    rows.append(_row("VGG16 predicts the 40 attribute ratings (test Pearson r per attribute)",
                     f"mean r {_fmt(paper_vgg)} (VGG16 column)",
                     f"mean test r {_fmt(r_vgg)} over 40 attributes "
                     f"(holds if >= paper - {r_margin})", data, status, need.missing))

    # 2. predictions vs human consistency
    need.missing = []
    ceiling = need(P, "mean_noise_ceiling")
    paper_human = paper_mean("human")
    pv, ph = _column(comparison, "paper", "vgg16"), _column(comparison, "paper", "human")
    paper_above = paper_t = None
    if pv and ph:
        from scipy.stats import ttest_ind

        pp = _numbers(comparison, pv, ph)
        paper_above = f"{int((pp[pv] > pp[ph]).sum())} of {len(pp)}"
        t, p = ttest_ind(pp[ph], pp[pv])
        paper_t = f"t = {t:.2f}, p = {p:.2g}"
    ours = next((c for c in comparison.columns if "vgg16" in str(c).lower()
                 and "paper" not in str(c).lower() and "aug" not in str(c).lower()), None) \
        if comparison is not None else None
    ceil = _column(comparison, "ceiling")
    above = n_attr = None
    if ours and ceil:
        pair = _numbers(comparison, ours, ceil)
        above, n_attr = int((pair[ours] > pair[ceil]).sum()), len(pair)
    elif results.get(P):
        need.missing.append(f"{P}.comparison (this study's VGG16 r and noise ceiling columns)")
    rows.append(_row("VGG16 exceeds human consistency (the paper's Human column) on most "
                     "attributes",
                     f"VGG16 above Human for {paper_above or 'n/a'} attributes (mean Human "
                     f"{_fmt(paper_human)}; {paper_t or 'n/a'})",
                     f"test r above the noise ceiling for {above if above is not None else 'n/a'} of "
                     f"{n_attr if n_attr is not None else 'n/a'} attributes (mean "
                     f"ceiling {_fmt(ceiling)}); a model cannot truly exceed the ceiling, so "
                     "this measures how much the ceiling or the test set limits r",
                     data, "not tested" if above is None else
                     ("holds" if above >= min_share * n_attr else
                      "partly holds" if above else "does not hold"), need.missing))

    need.missing = []
    rho = need(P, "r_ceiling_spearman")
    paper_rho = need(P, "paper_r_human_spearman")
    rows.append(_row("Attributes people agree on are predicted better",
                     f"Spearman {_fmt(paper_rho)} over attributes between VGG16 and Human "
                     "columns",
                     f"Spearman {_fmt(rho)} between test r and noise ceiling (holds if >= 0.5)",
                     data, "not tested" if rho is None else
                     "holds" if rho >= 0.5 else "partly holds" if rho > 0 else "does not hold",
                     need.missing))

    # 3. baselines
    need.missing = []
    base = {k: need(P, f"mean_r_{k}") for k in ("hist_svr", "lbp_svr", "hog_svr")}
    landmarks = need(P, "mean_r_landmarks")
    known = {k: v for k, v in base.items() if v is not None}
    best = max(known, key=known.get) if known else None
    paper_geo = paper_mean("geo")
    pg = _column(comparison, "paper", "geo")
    paper_geo_t = None
    if pv and pg:
        from scipy.stats import ttest_ind

        pp = _numbers(comparison, pg, pv)
        t, p = ttest_ind(pp[pg], pp[pv])
        paper_geo_t = f"t = {t:.2f}, p = {p:.2g}"
    status = "not tested"
    if r_vgg is not None and best is not None:
        # the paper's baseline is the code's SVR on image features; a landmark-geometry model
        # that beats VGG16 makes the claim only partly true
        status = ("does not hold" if r_vgg <= known[best] else
                  "partly holds" if landmarks is not None and landmarks >= r_vgg else "holds")
    rows.append(_row("VGG16 beats the geometric-feature baseline",
                     f"mean r {_fmt(paper_vgg)} vs {_fmt(paper_geo)} ({paper_geo_t or 'n/a'})",
                     f"mean test r {_fmt(r_vgg)} vs best SVR baseline "
                     f"{best or 'n/a'} {_fmt(known.get(best) if best else None)}; landmark "
                     f"geometry {_fmt(landmarks)}", data, status,
                     [] if known and r_vgg is not None else need.missing))

    # 4. augmentation, ViT
    need.missing = []
    aug_keys = [k for k in results.get(P, {}) if "aug" in k.lower() and k.startswith("mean_r")]
    paper_aug = paper_mean("aug")
    if aug_keys:
        with_aug = r_vgg
        without = results[P][aug_keys[0]]
        rows.append(_row("Augmentation (flips, 10° rotation) improves VGG16",
                         f"mean r {_fmt(paper_aug)} with vs {_fmt(paper_vgg)} without",
                         f"mean test r {_fmt(with_aug)} with vs {_fmt(without)} "
                         f"({aug_keys[0]})", data,
                         "holds" if with_aug is not None and with_aug > without else
                         "does not hold", []))
    else:
        rows.append(_row("Augmentation (flips, 10° rotation) improves VGG16",
                         f"mean r {_fmt(paper_aug)} with vs {_fmt(paper_vgg)} without",
                         "not trained without augmentation here", data, "not tested"))
    rows.append(_row("ViT-B/16 is on par with or above VGG16",
                     f"mean r {_fmt(paper_mean('vit'))}",
                     "no ViT is trained in this study (no pretrained weights offline, CPU budget)",
                     data, "not tested"))

    # 5. Grad-CAM
    need.missing = []
    E = "paper3_explanations"
    k_primary = need(E, "gradcam_above_chance_primary")
    k_driving = need(E, "gradcam_above_chance_driving")
    n_e = need(E, "n_attributes")
    mass, chance = need(E, "gradcam_mass_primary"), need(E, "gradcam_chance_primary")
    profile_r = need(E, "gradcam_profile_r")
    status = part(k_primary, n_e) if None not in (k_primary, n_e) else "not tested"
    rows.append(_row("Grad-CAM highlights the facial regions relevant to an attribute",
                     "shown on one face of one attribute (happy); not measured",
                     f"Grad-CAM beats chance on the primary driving regions for {k_primary} of "
                     f"{n_e} attributes (on all driving regions: {k_driving}); mean mass "
                     f"{_fmt(mass)} vs chance {_fmt(chance)}, region-profile r "
                     f"{_fmt(profile_r)}", data, status, need.missing))

    # 6. manifolds
    need.missing = []
    M = "paper3_manifolds"
    n_struct = need(M, "n_pairs_structure_features")
    n_none = need(M, "n_pairs_none_features")
    n_emb = need(M, "n_tsne_umap_structure")
    n_shown = need(M, "n_pairs_shown")
    status = "not tested"
    if None not in (n_struct, n_none):
        status = "holds" if n_struct and n_none else "partly holds" if n_struct or n_none \
            else "does not hold"
    rows.append(_row("t-SNE / UMAP of the predicted attributes show cluster structure for some "
                     "attributes and not for others",
                     "read off the pictures, on in-sample predictions",
                     f"held-out: label separated ('structure') for {n_struct} of 20 pairs, "
                     f"none for {n_none}; t-SNE or UMAP keeps it for {n_emb} of {n_shown} pairs "
                     "embedded", data, status, need.missing))

    # 7. bias
    need.missing = []
    B = "paper3_bias"
    n_gaps, n_tests = need(B, "n_gaps"), need(B, "n_tests")
    where, gap = need(B, "largest_r_gap_where"), need(B, "largest_r_gap")
    variables = need(B, "variables")
    rows.append(_row("Such models raise bias and ethics concerns (accuracy may differ between "
                     "groups of people)",
                     "discussed, not measured",
                     f"{n_gaps} of {n_tests} attribute-variable tests ({variables}) show a gap at "
                     f"FDR 0.05 (no gap found is not evidence of none at this test size); "
                     f"largest r gap {_fmt(gap)} ({where})", data,
                     "not tested" if n_gaps is None else
                     "holds" if n_gaps > 0 else "does not hold", need.missing))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Deviations
# ---------------------------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_ROLE = re.compile(r"\{[\w:.-]+\}`([^`<]*?)(?:\s*<([^>]*)>)?`")


def plain_roles(text: str) -> str:
    """MyST roles as plain text (``{cite:t}`xiao2024``` -> ``xiao2024``), for text shown in a
    notebook's Markdown output, which is rendered as CommonMark without roles."""
    return _ROLE.sub(lambda m: m.group(1).strip() or (m.group(2) or ""), text)


def deviations(path: Path | str, heading: str = "deviations", strip_roles: bool = True
               ) -> list[str]:
    """The bullet items of the section of a MyST notebook whose heading contains ``heading``.

    Items are returned as one string each (continuation lines joined; MyST roles made plain text
    unless ``strip_roles`` is False); an empty list when the file or the section is missing. Code
    cells are skipped.
    """
    path = Path(path)
    if not path.is_file():
        return []
    items, inside, level, in_code = [], False, 0, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        m = _HEADING.match(line)
        if m:
            if inside and len(m.group(1)) <= level:
                break
            if heading in m.group(2).lower():
                inside, level = True, len(m.group(1))
            continue
        if not inside:
            continue
        if line.startswith(("* ", "- ")):
            items.append(line[2:].strip())
        elif line.startswith("  ") and items and line.strip():
            items[-1] += " " + line.strip()
    return [plain_roles(i) for i in items] if strip_roles else items


# ---------------------------------------------------------------------------------------------
# The chapter's overview figure
# ---------------------------------------------------------------------------------------------

def comparison_figure(comparison: pd.DataFrame | None):
    """Per attribute, the paper's VGG16 r (x) against this study's test r (y), with the identity.

    ``comparison`` is the ``comparison`` table of ``paper3_predictive`` (:func:`table`): columns
    ``attribute``, ``paper_vgg16``, ``paper_human``, ``vgg16`` and ``noise_ceiling``. Each attribute
    is one dot of this study's r, coloured by its noise ceiling, and one grey cross of the paper's
    Human column; the extreme attributes are labelled. With no table, a figure that says so.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    needed = {"attribute", "paper_vgg16", "paper_human", "vgg16", "noise_ceiling"}
    if comparison is None or not needed <= set(comparison.columns):
        ax.text(0.5, 0.5, "paper3_predictive recorded no comparison table", ha="center",
                va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    c = comparison.copy()
    for col in needed - {"attribute"}:
        c[col] = pd.to_numeric(c[col], errors="coerce")
    ax.plot([-0.2, 1], [-0.2, 1], color="0.6", lw=1, ls="--", zorder=0)
    ax.scatter(c["paper_vgg16"], c["paper_human"], marker="x", color="0.55", s=18,
               label="paper: Human column")
    dots = ax.scatter(c["paper_vgg16"], c["vgg16"], c=c["noise_ceiling"], cmap="viridis",
                      vmin=0, vmax=1, s=28, edgecolor="k", linewidth=0.4,
                      label="this study: test r")
    fig.colorbar(dots, ax=ax, label="noise ceiling of the ratings (this study)")
    gap = (c["vgg16"] - c["paper_vgg16"]).abs()
    for _, row in c.loc[gap.nlargest(3).index.union(gap.nsmallest(2).index)].iterrows():
        ax.annotate(row["attribute"], (row["paper_vgg16"], row["vgg16"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("paper: VGG16 test r (real photographs)")
    ax.set_ylabel("r")
    ax.set_xlim(-0.2, 1)
    ax.set_ylim(-0.2, 1)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.tight_layout()
    return fig
