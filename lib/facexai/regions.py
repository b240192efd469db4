"""Anatomical face regions computed from the 68 iBUG landmarks alone.

The same function labels SynthFace images and real photographs with detected landmarks, so it
never looks at a generator parameter. Regions are painted into one label map, later polygons
over earlier ones, which makes them disjoint by construction; the face regions are then cut to
the face outline, so together they cover it exactly.

Left/right are the subject's: ``right_*`` lies on the image left, like iBUG points 17-21 and
36-41.

The forehead is not in the 68 points. The face outline is closed by an arc built on a *head
frame* from landmarks that Action Units do not move (jaw ends 0 and 16, inner eye corners
39/42, nose tip 30): the arc's width is the jaw-end distance and its height follows the eye-nose
distance, which matches the rule of facial thirds (hairline-brow ~ brow-nose base).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

REGIONS: tuple[str, ...] = (
    "background", "hair", "forehead", "right_brow", "left_brow", "right_eye", "left_eye",
    "nose", "mouth", "right_cheek", "left_cheek", "chin_jaw",
)
#: The regions that lie on the face (forehead .. chin_jaw).
FACE_REGIONS: tuple[str, ...] = REGIONS[2:]
_ID = {name: k for k, name in enumerate(REGIONS)}


@dataclass(frozen=True)
class HeadFrame:
    """A face-aligned frame: ``point(X, Y) = c + X*a*u + Y*b*v`` (pixels).

    ``u`` runs from jaw point 0 to 16 (image right), ``v`` is perpendicular pointing to the chin;
    ``a`` is half the jaw-end distance and ``b`` the forehead height, so ``(X, Y) = (0, -1)`` is
    the top of the forehead and ``(+-1, 0)`` are jaw points 16 and 0.
    """

    c: np.ndarray
    u: np.ndarray
    v: np.ndarray
    a: float
    b: float

    def __post_init__(self):
        # The scaled axes, computed once: the renderer calls point() dozens of times per face.
        object.__setattr__(self, "_au", self.a * self.u)
        object.__setattr__(self, "_bv", self.b * self.v)

    def point(self, x, y) -> np.ndarray:
        """Head-frame coordinates (scalars or arrays) to pixel coordinates ``(..., 2)``."""
        x = np.asarray(x, float)[..., None]
        y = np.asarray(y, float)[..., None]
        return self.c + x * self._au + y * self._bv


def head_frame(landmarks: np.ndarray) -> HeadFrame:
    """Head frame of a face from its 68 landmarks (see :class:`HeadFrame`)."""
    p = np.asarray(landmarks, float)
    d = p[16] - p[0]
    a = float(np.hypot(*d)) / 2
    u = d / (2 * a)
    v = np.array([-u[1], u[0]])
    eye_nose = float(np.hypot(*((p[39] + p[42]) / 2 - p[30])))
    return HeadFrame(c=(p[0] + p[16]) / 2, u=u, v=v, a=a, b=0.6 * a + 1.5 * eye_nose)


@lru_cache(maxsize=64)
def _spline_matrix(m: int, closed: bool) -> np.ndarray:
    """Linear map from ``m`` control points to a Catmull-Rom curve, 4 samples per segment."""
    t = np.arange(4)[:, None] / 4
    basis = 0.5 * np.hstack([-t**3 + 2 * t**2 - t, 3 * t**3 - 5 * t**2 + 2,
                             -3 * t**3 + 4 * t**2 + t, t**3 - t**2])          # (4, 4)
    eye = np.eye(m)
    if closed:
        pad, segs = eye, [(i - 1 + np.arange(4)) % m for i in range(m)]
    else:   # reflected end points, so that the curve starts and ends on the first/last point
        pad = np.vstack([2 * eye[0] - eye[1], eye, 2 * eye[-1] - eye[-2]])
        segs = [i + np.arange(4) for i in range(m - 1)]
    rows = [basis @ pad[s] for s in segs] + ([] if closed else [eye[-1:]])
    return np.vstack(rows)


def spline(points, closed: bool = False) -> np.ndarray:
    """Catmull-Rom curve through ``points`` (4 samples per segment), ``(n, 2)``."""
    p = np.asarray(points, float)
    return _spline_matrix(len(p), closed) @ p


def _arc_xy(t: np.ndarray, power: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Superellipse arc in head-frame units; t=0 at X=+1, t=pi/2 at the top, t=pi at X=-1."""
    c, s = np.cos(t), np.sin(t)
    return np.sign(c) * np.abs(c) ** power, -np.sign(s) * np.abs(s) ** power


_ARC_T = np.linspace(0.0, np.pi, 17)[1:-1]


def forehead_arc(landmarks: np.ndarray, frame: HeadFrame | None = None) -> np.ndarray:
    """Upper face outline from near jaw point 16 over the forehead to near point 0, (15, 2), in
    the head frame of ``landmarks`` (or in ``frame``)."""
    return (frame or head_frame(landmarks)).point(*_arc_xy(_ARC_T))


def face_outline(landmarks: np.ndarray) -> np.ndarray:
    """Closed face polygon: a smooth curve through jaw points 0-16, then the forehead arc."""
    p = np.asarray(landmarks, float)
    return np.concatenate([spline(p[:17]), forehead_arc(p)])


_HAIR_T = np.linspace(-0.3, np.pi + 0.3, 25)


def hair_outline(landmarks: np.ndarray) -> np.ndarray:
    """Outer edge of the head band where hair usually is (a larger arc round the forehead)."""
    hf = head_frame(landmarks)
    x, y = _arc_xy(_HAIR_T)
    return hf.c + (1.2 * hf.a * x)[:, None] * hf.u + (1.22 * hf.b * y + 0.08 * hf.a)[:, None] * hf.v


def _size_hw(size) -> tuple[int, int]:
    if np.ndim(size) == 0:
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def _poly(draw: ImageDraw.ImageDraw, pts: np.ndarray, value: int) -> None:
    draw.polygon(np.asarray(pts, float).ravel().tolist(), fill=value)


def _region_polygons(p: np.ndarray) -> list[tuple[str, str, np.ndarray, float]]:
    """Painting list ``(region, kind, points, width)`` in painting order (later wins)."""
    hf = head_frame(p)
    u, v, far = hf.u, hf.v, 2.0 * hf.a
    out = []
    # Cheeks: from the brow line down to the mouth corner and the jaw, nose midline inside.
    for name, brow, jaw, nose, corner in (
        ("right_cheek", [17, 18, 19, 20, 21], [5, 4, 3, 2, 1, 0], [27, 28, 29, 30, 33], 48),
        ("left_cheek", [26, 25, 24, 23, 22], [11, 12, 13, 14, 15, 16], [27, 28, 29, 30, 33], 54),
    ):
        side = -1.0 if name.startswith("right") else 1.0
        pts = np.concatenate([
            [p[brow[0]] + side * far * u], p[brow], p[nose], [p[corner]], p[jaw],
            [p[jaw[-1]] + side * far * u]])
        out.append((name, "poly", pts, 0.0))
    # Forehead: everything above the brow line (dipping to the nose root between the brows).
    line = np.concatenate([p[17:22], p[27:28], p[22:27]])
    up = 3.0 * hf.b * v
    out.append(("forehead", "poly", np.concatenate([
        [p[17] - far * u], line, [p[26] + far * u, p[26] + far * u - up, p[17] - far * u - up]]),
        0.0))
    # Mouth: the lips, widened at the corners, the upper edge raised to the nose base.
    lips = p[48:60].copy()
    cm = lips.mean(0)
    width = float(np.hypot(*(p[54] - p[48])))
    lips[0] -= 0.15 * width * u
    lips[6] += 0.15 * width * u
    nose_base = p[[31, 32, 33, 34, 35]]
    lips[1:6] += 0.85 * (nose_base - lips[1:6])
    lips[7:12] = cm + (lips[7:12] - cm) * 1.3
    out.append(("mouth", "poly", lips, 0.0))
    # Nose: bridge and base, widened a little (alae lie outside points 31/35).
    base_w = float(np.hypot(*(p[35] - p[31])))
    nose = np.array([
        p[27] - 0.2 * base_w * u, p[27] + 0.2 * base_w * u, p[35] + 0.2 * base_w * u,
        p[35] + 0.1 * base_w * (u + v), p[33] + 0.12 * base_w * v, p[31] + 0.1 * base_w * (v - u),
        p[31] - 0.2 * base_w * u])
    out.append(("nose", "poly", nose, 0.0))
    # Brows and eyes meet half-way between them.
    gap = float(np.mean(np.abs((p[[19, 20, 23, 24]] - p[[37, 38, 43, 44]]) @ v)))
    for name, idx, k_left, k_right in (("right_eye", np.arange(36, 42), 0.25, 0.2),
                                       ("left_eye", np.arange(42, 48), 0.2, 0.25)):
        # e[0] is the image-left corner of either eye; the outer corner gets the wider margin.
        e = p[idx].copy()
        ew = float(np.hypot(*(e[3] - e[0])))
        eh = float(np.mean(np.abs((e[[1, 2]] - e[[5, 4]]) @ v)))
        e[0] -= k_left * ew * u
        e[3] += k_right * ew * u
        e[[1, 2]] -= 0.55 * gap * v
        e[[4, 5]] += (0.35 * eh + 0.06 * ew) * v
        out.append((name, "poly", e, 0.0))
    for name, idx in (("right_brow", slice(17, 22)), ("left_brow", slice(22, 27))):
        out.append((name, "line", p[idx], gap))
    return out


def region_labels(landmarks: np.ndarray, size) -> np.ndarray:
    """Region index (into :data:`REGIONS`) of every pixel, ``(H, W)`` int8.

    Painted in this order, later over earlier, then cut to the face outline: the whole face as
    ``chin_jaw``; each cheek (brow line down the nose midline to the mouth corner and the jaw);
    ``forehead`` (above the brow line, dipping to the nose root between the brows); ``mouth``
    (the lips, corners widened, upper edge raised to the nose base so the upper-lip skin is
    included); ``nose`` (bridge and base, widened to take in the alae); each eye (the eye
    polygon raised half-way to the brow so the upper lid belongs to it); each brow (the brow
    polyline thickened to the brow-eye gap). Outside the face: ``hair`` in a band round the
    forehead arc, ``background`` elsewhere.

    Parameters
    ----------
    landmarks : ndarray, shape (68, 2)
        iBUG landmarks ``(x, y)`` in pixels (pixel centres at integer coordinates).
    size : int or (H, W)
        Image size.
    """
    p = np.asarray(landmarks, float)
    if p.shape != (68, 2):
        raise ValueError(f"landmarks must have shape (68, 2), got {p.shape}")
    h, w = _size_hw(size)
    face_img = Image.new("L", (w, h), 0)
    _poly(ImageDraw.Draw(face_img), face_outline(p), 1)
    hair_img = Image.new("L", (w, h), 0)
    _poly(ImageDraw.Draw(hair_img), hair_outline(p), 1)
    lab_img = Image.new("L", (w, h), _ID["chin_jaw"])
    draw = ImageDraw.Draw(lab_img)
    for name, kind, pts, width in _region_polygons(p):
        if kind == "poly":
            _poly(draw, pts, _ID[name])
        else:
            wd = max(1, int(round(width)))
            draw.line(pts.ravel().tolist(), fill=_ID[name], width=wd, joint="curve")
            r = width / 2
            for q in pts[[0, -1]]:   # round caps
                draw.ellipse([q[0] - r, q[1] - r, q[0] + r, q[1] + r], fill=_ID[name])
    face = np.asarray(face_img, bool)
    hair = np.asarray(hair_img, bool)
    lab = np.asarray(lab_img, np.int8)
    return np.where(face, lab, np.where(hair, _ID["hair"], _ID["background"])).astype(np.int8)


def region_masks(landmarks: np.ndarray, size) -> np.ndarray:
    """One boolean mask per region, ``(len(REGIONS), H, W)``; exactly one is true per pixel."""
    lab = region_labels(landmarks, size)
    return lab[None] == np.arange(len(REGIONS), dtype=np.int8)[:, None, None]


def face_mask(landmarks: np.ndarray, size) -> np.ndarray:
    """Pixels inside :func:`face_outline`, ``(H, W)`` bool (the union of the face regions)."""
    h, w = _size_hw(size)
    img = Image.new("L", (w, h), 0)
    _poly(ImageDraw.Draw(img), face_outline(landmarks), 1)
    return np.asarray(img, bool)


def has_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Which faces of ``landmarks`` ``(N, 68, 2)`` have all 68 points known (no NaN), ``(N,)``
    bool: the faces that can be divided into regions."""
    lms = np.asarray(landmarks, float)
    if lms.ndim != 3 or lms.shape[1:] != (68, 2):
        raise ValueError(f"landmarks must have shape (N, 68, 2), got {lms.shape}")
    return np.isfinite(lms).all(axis=(1, 2))


def region_label_maps(landmarks: np.ndarray, size) -> np.ndarray:
    """:func:`region_labels` of many faces, ``(N, H, W)`` int8.

    A face whose landmarks are unknown (any NaN) gets -1 everywhere: region scores
    (:mod:`facexai.scoring`) leave it out.
    """
    landmarks = np.asarray(landmarks, float)
    known = has_landmarks(landmarks)
    h, w = _size_hw(size)
    out = np.full((len(known), h, w), -1, np.int8)
    for i in np.flatnonzero(known):
        out[i] = region_labels(landmarks[i], (h, w))
    return out


# --------------------------------------------------------------------------------------------
# Heatmaps averaged over aligned faces (relevance per region is :mod:`facexai.scoring`'s).
# scipy is imported inside the functions: the renderer imports this module per worker.
# --------------------------------------------------------------------------------------------

def similarity_transform(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares rotation + uniform scale + translation taking points ``src`` onto ``dst``.

    Returns ``(A, t)`` with ``dst ~ src @ A.T + t`` (Umeyama 1991, reflections excluded).
    """
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    u, sig, vt = np.linalg.svd(d.T @ s / len(src))
    fix = np.diag([1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ fix @ vt
    scale = np.trace(np.diag(sig) @ fix) / (s ** 2).sum(1).mean()
    a = scale * rot
    return a, md - ms @ a.T


def mean_template(landmarks: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Mean face shape ``(68, 2)`` by generalised Procrustes analysis, in the faces' pixel frame.

    Every face is aligned by a similarity transform to the current mean, the aligned faces are
    averaged, and the mean is put back where the faces are on average (centroid and size of the
    raw landmarks), so the template sits in the image like a typical face.
    """
    lms = np.asarray(landmarks, float)
    mean = lms.mean(0)
    for _ in range(iterations):
        aligned = []
        for lm in lms:
            a, t = similarity_transform(lm, mean)
            aligned.append(lm @ a.T + t)
        mean = np.mean(aligned, 0)
    raw_centre = lms.mean((0, 1))
    raw_size = np.mean([np.sqrt(((lm - lm.mean(0)) ** 2).sum(1).mean()) for lm in lms])
    size = np.sqrt(((mean - mean.mean(0)) ** 2).sum(1).mean())
    return raw_centre + (mean - mean.mean(0)) * raw_size / size


class TemplateWarp:
    """Piecewise-affine warp of images onto a landmark template (scipy only).

    The template's 68 points plus 8 points on the image border are triangulated once (Delaunay);
    each output pixel keeps its triangle and barycentric coordinates, so warping a face only maps
    the triangle corners to that face (its landmarks; the border points follow the face's
    similarity transform) and samples bilinearly.

    Parameters
    ----------
    template : ndarray, shape (68, 2)
        Target landmarks (e.g. :func:`mean_template`).
    size : int or (H, W)
        Output size.
    method : {"piecewise_affine", "similarity"}
        ``"similarity"`` aligns each face by one similarity transform only (shape kept).
    """

    def __init__(self, template: np.ndarray, size, method: str = "piecewise_affine"):
        from scipy.spatial import Delaunay

        if method not in ("piecewise_affine", "similarity"):
            raise ValueError(f"unknown warp method {method!r}; choose 'piecewise_affine' or "
                             "'similarity'")
        self.template = np.asarray(template, float)
        self.h, self.w = _size_hw(size)
        self.method = method
        h, w = self.h - 1.0, self.w - 1.0
        self.border = np.array([[0, 0], [w / 2, 0], [w, 0], [w, h / 2], [w, h], [w / 2, h],
                                [0, h], [0, h / 2]], float)
        yy, xx = np.mgrid[:self.h, :self.w]
        self.pixels = np.c_[xx.ravel(), yy.ravel()].astype(float)
        if method == "piecewise_affine":
            points = np.vstack([self.template, self.border])
            tri = Delaunay(points)
            # Every pixel centre lies in the hull (the border points are its corners); the
            # tolerance only catches centres on an edge of the image.
            simplex = tri.find_simplex(self.pixels, tol=1e-9)
            if (simplex < 0).any():
                raise ValueError("template triangulation does not cover the image")
            trans = tri.transform[simplex]
            b = np.einsum("nij,nj->ni", trans[:, :2], self.pixels - trans[:, 2])
            self.corners = tri.simplices[simplex]                  # (P, 3) point indices
            self.bary = np.c_[b, 1 - b.sum(1)]                     # (P, 3)

    def source_coordinates(self, landmarks: np.ndarray) -> np.ndarray:
        """Where each output pixel comes from in the face with ``landmarks``, ``(P, 2)`` (x, y)."""
        lm = np.asarray(landmarks, float)
        a, t = similarity_transform(self.template, lm)         # template frame -> face frame
        if self.method == "similarity":
            return self.pixels @ a.T + t
        points = np.vstack([lm, self.border @ a.T + t])
        return np.einsum("pk,pkd->pd", self.bary, points[self.corners])

    def __call__(self, image: np.ndarray, landmarks: np.ndarray, order: int = 1) -> np.ndarray:
        """``image`` (H, W) of the face with ``landmarks`` warped onto the template, (h, w)."""
        from scipy.ndimage import map_coordinates

        src = self.source_coordinates(landmarks)
        out = map_coordinates(np.asarray(image, float), [src[:, 1], src[:, 0]], order=order,
                              mode="constant", cval=0.0)
        return out.reshape(self.h, self.w)


def average_heatmap(maps: np.ndarray, landmarks: np.ndarray, template: np.ndarray | None = None,
                    method: str = "piecewise_affine", normalize: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Mean of heatmaps warped onto a common landmark template: "where the model looks" on average.

    Parameters
    ----------
    maps : ndarray, shape (N, H, W)
        Relevance maps of N faces.
    landmarks : ndarray, shape (N, 68, 2)
        Their landmarks.
    template : ndarray, shape (68, 2), optional
        Defaults to :func:`mean_template` of ``landmarks``.
    method : {"piecewise_affine", "similarity"}
        See :class:`TemplateWarp`.
    normalize : bool
        Divide each map by its largest absolute value first, so every face weighs the same.

    Returns
    -------
    (mean_map, template)
    """
    maps = np.asarray(maps, float)
    template = mean_template(landmarks) if template is None else np.asarray(template, float)
    warp = TemplateWarp(template, maps.shape[1:], method)
    total = np.zeros(maps.shape[1:])
    for m, lm in zip(maps, landmarks):
        scale = np.abs(m).max() if normalize else 1.0
        total += warp(m / scale if scale > 0 else m, lm)
    return total / len(maps), template
