"""SynthFace renderer: a face picture from its generator factors, fast and deterministic.

Technique: hard-edged shapes (polygons and lines from landmark-derived curves) are drawn with
PIL at 2-4x the output size and box-downsampled, which anti-aliases them; soft shading
(ambient occlusion, folds, highlights, blush) is drawn into greyscale layers that are
Gaussian-blurred and combined with numpy; the nuisance (light gradient, blur, sensor noise) is
applied last. Everything depends only on the :class:`FaceParams`, so a face renders the same
alone, in a batch or in another process.

Geometry that an Action Unit must not move (head outline, hair, ears, neck, glasses, the
placement of age wrinkles) is built from the *neutral* landmarks of the same person and pose;
what AUs move is built from the actual landmarks, and AU-specific marks (wrinkles, furrows,
dimples) are scaled by the AU intensity of their side. So each AU changes only pixels in the
anatomical regions that :mod:`facexai.synth.aus` declares for it.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy.ndimage import gaussian_filter

from facexai.regions import HeadFrame, forehead_arc, head_frame, spline
from facexai.synth.factors import AUS, FaceParams
from facexai.synth.landmarks import DEPTH, FRAME_UNIT, au_displacement, identity_landmarks, to_image

SIZE_MIN, SIZE_MAX = 48, 256
_AU = {au: k for k, au in enumerate(AUS)}


def check_size(size: int) -> int:
    """Return ``size`` as an int, or raise ValueError naming it when outside 48..256."""
    ok = isinstance(size, (int, np.integer)) and not isinstance(size, bool)
    if not ok or not SIZE_MIN <= int(size) <= SIZE_MAX:
        raise ValueError(f"image size must be an integer in {SIZE_MIN}..{SIZE_MAX}, got size={size!r}")
    return int(size)


# ----------------------------------------------------------------------------- colours

def _clip01(x: float) -> float:
    return min(max(float(x), 0.0), 1.0)


def _ramp(anchors: np.ndarray, t: float) -> np.ndarray:
    """Piecewise-linear colour ramp over equally spaced anchors, t in 0..1."""
    x = _clip01(t) * (len(anchors) - 1)
    i = min(int(x), len(anchors) - 2)
    return anchors[i] + (x - i) * (anchors[i + 1] - anchors[i])


def _rgb(c) -> tuple[int, int, int]:
    # Plain Python: this runs about a hundred times per face; numpy's per-call cost would dominate.
    r, g, b = c.tolist() if isinstance(c, np.ndarray) else c
    return (min(max(int(r * 255 + 0.5), 0), 255), min(max(int(g * 255 + 0.5), 0), 255),
            min(max(int(b * 255 + 0.5), 0), 255))


def _hash01(text: str, salt: int) -> float:
    """Stable pseudo-random number in [0, 1) from a string (minor looks: eye colour, clothes)."""
    return zlib.crc32(f"{salt}|{text}".encode()) / 2.0**32


_SKIN = np.array([(0.96, 0.80, 0.69), (0.88, 0.68, 0.55), (0.68, 0.47, 0.33), (0.37, 0.24, 0.16)])
_HAIR = np.array([(0.84, 0.70, 0.44), (0.55, 0.37, 0.20), (0.30, 0.19, 0.11), (0.08, 0.07, 0.065)])
_IRIS = np.array([(0.33, 0.20, 0.11), (0.45, 0.34, 0.18), (0.33, 0.42, 0.30), (0.30, 0.45, 0.62),
                  (0.42, 0.50, 0.56)])
_CLOTH = np.array([(0.17, 0.22, 0.38), (0.42, 0.43, 0.45), (0.85, 0.85, 0.82), (0.45, 0.13, 0.15),
                   (0.15, 0.30, 0.22), (0.12, 0.12, 0.13), (0.70, 0.62, 0.50), (0.50, 0.62, 0.78)])
_GREY = np.array([0.76, 0.75, 0.73])


@dataclass(frozen=True)
class Draws:
    """The random draws of a rendered face that are not factors: the sensor noise's seed and the
    key of its minor looks (eye colour, clothes, glasses frame, hair parting side).

    By default both come from the parameters themselves (:meth:`of`), so a face's noise and looks
    are part of its identity. A counterfactual (:mod:`facexai.synth.counterfactual`) renders the
    changed parameters with the *original's* draws, so that only the changed factor differs.
    """

    noise_seed: int
    look_key: str

    @classmethod
    def of(cls, params: FaceParams) -> "Draws":
        return cls(zlib.crc32(repr(params).encode()), repr(params.identity))


def _colours(params: FaceParams, key: str) -> dict[str, np.ndarray]:
    idt = params.identity
    grey = _clip01((idt.age - 38.0) / 35.0) ** 1.2
    skin = _ramp(_SKIN, idt.skin_tone)
    hair = _ramp(_HAIR, idt.hair_color)
    dark_eyed = idt.skin_tone > 0.55 or idt.hair_color > 0.75
    iris = _IRIS[0] if dark_eyed and _hash01(key, 1) < 0.9 else _IRIS[int(_hash01(key, 2) * 5)]
    lip = skin * np.array([0.88, 0.62, 0.62]) + (1 - idt.masculinity) * np.array([0.05, -0.01, 0.0])
    return {
        "skin": skin, "lip": lip, "lip_up": lip * 0.86, "iris": iris,
        "hair": hair + grey * (_GREY - hair),
        "brow": 0.85 * hair + 0.5 * grey * (_GREY - hair) - 0.03,
        "cloth": _CLOTH[int(_hash01(key, 3) * len(_CLOTH))] * (0.8 + 0.3 * _hash01(key, 4)),
        "frame": np.array([0.08, 0.07, 0.07]) if _hash01(key, 5) < 0.6 else np.array([0.45, 0.3, 0.18]),
        "lash": np.minimum(hair, 0.25) * 0.5,
    }


# ----------------------------------------------------------------------------- per-size set-up

_T16 = np.linspace(0, 2 * np.pi, 16, endpoint=False)
_CIRCLE = np.stack([np.cos(_T16), np.sin(_T16)], 1)


@dataclass(frozen=True)
class _Setup:
    size: int
    ss: int                 # supersampling factor of the colour canvas
    gx: np.ndarray          # x in -1..1 over the image, (H, W)
    gy: np.ndarray
    stubble: np.ndarray     # grain texture for stubble, (H, W)
    stipple: np.ndarray     # fixed dot pattern for the AU17 chin boss, (14, 2) in the unit disc


@lru_cache(maxsize=16)
def _setup(size: int) -> _Setup:
    ss = max(2, -(-192 // size))  # the drawing canvas is at least 192 px wide
    g = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 - 1
    rng = np.random.Generator(np.random.Philox(12345 + size))
    r = rng.random((size, size)).astype(np.float32)
    ang, rad = rng.uniform(0, 2 * np.pi, 14), np.sqrt(rng.uniform(0.05, 1, 14))
    return _Setup(size, ss, np.repeat(g[None, :], size, 0), np.repeat(g[:, None], size, 1),
                  0.45 + 0.55 * r * r, np.stack([rad * np.cos(ang), rad * np.sin(ang)], 1))


#: Soft layers: name -> (resolution divisor, blur sigma as a fraction of the image size).
#: The wide blurs are drawn at half resolution: after the blur nobody can tell, and it is faster.
_LAYERS = {"soft": (2, 0.035), "blush": (2, 0.05), "shade": (1, 0.012), "light": (2, 0.02)}


class _Canvas:
    """Supersampled colour canvas plus the soft greyscale layers.

    Geometry arrives in canvas (supersampled) pixels. Line widths are given in pixels of a
    96-pixel image and scale with the image size, so a face looks the same at every size.
    """

    def __init__(self, st: _Setup, background):
        self.st, self.ss, self.px = st, st.ss, st.size / 96.0
        n = st.size
        self.base = Image.new("RGB", (n * st.ss, n * st.ss), _rgb(background))
        self.d = ImageDraw.Draw(self.base)
        self.layers = {k: Image.new("L", (n // div, n // div), 0) for k, (div, _) in _LAYERS.items()}
        self.ld = {k: ImageDraw.Draw(im) for k, im in self.layers.items()}

    def poly(self, pts, colour) -> None:
        self.d.polygon(np.asarray(pts).ravel().tolist(), fill=_rgb(colour))

    def line(self, pts, colour, width: float) -> None:
        w = max(1, int(round(width * self.px * self.ss)))
        self.d.line(np.asarray(pts).ravel().tolist(), fill=_rgb(colour), width=w,
                    joint="curve" if w > 2 else None)

    def soft(self, layer: str, pts, value: float, width: float = 0.0) -> None:
        """Polygon (``width == 0``) or polyline into a soft layer, value 0..1."""
        div = _LAYERS[layer][0]
        f = self.ss * div
        xy = ((np.asarray(pts) + 0.5) * (1.0 / f) - 0.5).ravel().tolist()
        v = int(_clip01(value) * 255)
        if width:
            self.ld[layer].line(xy, fill=v, width=max(1, int(round(width * self.px / div))), joint="curve")
        else:
            self.ld[layer].polygon(xy, fill=v)

    def blurred(self, layer: str) -> np.ndarray:
        div, sigma = _LAYERS[layer]
        n = self.st.size
        im = self.layers[layer].filter(ImageFilter.GaussianBlur(sigma * n / div))
        if div > 1:
            im = im.resize((n, n), Image.BILINEAR)
        return np.asarray(im, np.float32) * (1 / 255)


# ----------------------------------------------------------------------------- face geometry

@dataclass
class _Face:
    p: np.ndarray            # landmarks with AUs (canvas pixels)
    p0: np.ndarray           # neutral landmarks of the same person and pose (canvas pixels)
    lm: np.ndarray           # landmarks with AUs in output pixels (returned to callers)
    hf: HeadFrame            # from the neutral landmarks
    k: float                 # canvas pixels per canonical unit
    u: np.ndarray            # image direction of the face's right (image x for roll 0) ...
    v: np.ndarray            # ... and of its down
    au_r: np.ndarray
    au_l: np.ndarray

    def au(self, au: int, side: str) -> float:
        return float((self.au_r if side == "r" else self.au_l)[_AU[au]])

    def au_mean(self, au: int) -> float:
        return 0.5 * (self.au(au, "r") + self.au(au, "l"))

    def brow_lowered(self, side: str) -> float:
        """How far AU4 actually lowers the brow: not where AU1/AU2 hold it up (landmarks' 1+4)."""
        a4 = self.au(4, side)
        return a4 - min(a4, max(self.au(1, side), self.au(2, side)))

    def ellipse(self, centre, rx: float, ry: float, circle: np.ndarray = _CIRCLE) -> np.ndarray:
        return centre + circle[:, :1] * (rx * self.u) + circle[:, 1:] * (ry * self.v)


#: Identity fields that shape inner features only: the head (outline, hair, forehead) is framed
#: without them, so that a longer nose or larger eyes do not move the head outline.
_INNER_FEATURES = {"nose_length": 0.0, "eye_size": 0.0, "eye_spacing": 0.0, "asymmetry": 0.0}


def _face(params: FaceParams, size: int, ss: int) -> _Face:
    nz = params.nuisance
    ident = identity_landmarks(params.identity)
    lm = to_image(ident + au_displacement(params.au_right, params.au_left), DEPTH, nz, size)
    p0 = (to_image(ident, DEPTH, nz, size) + 0.5) * ss - 0.5
    head = identity_landmarks(replace(params.identity, **_INNER_FEATURES))
    hf = head_frame((to_image(head, DEPTH, nz, size) + 0.5) * ss - 0.5)
    return _Face((lm + 0.5) * ss - 0.5, p0, lm, hf, FRAME_UNIT * size * ss * nz.scale, hf.u, hf.v,
                 np.clip(np.asarray(params.au_right, float), 0, 1),
                 np.clip(np.asarray(params.au_left, float), 0, 1))


# ----------------------------------------------------------------------------- parts

_SHOULDERS = np.array([(-0.5, 1.45), (-1.3, 1.6), (-2.0, 1.8), (-2.5, 2.25), (-2.8, 3.6), (2.8, 3.6),
                       (2.5, 2.25), (2.0, 1.8), (1.3, 1.6), (0.5, 1.45)]).T
_NECK = np.array([(-0.5, 0.5), (-0.5, 1.2), (-0.55, 1.5), (-0.3, 1.62), (0.0, 1.66), (0.3, 1.62),
                  (0.55, 1.5), (0.5, 1.2), (0.5, 0.5)]).T
_T9 = np.linspace(0, np.pi, 9)
_T15 = np.linspace(0.0, np.pi, 15)
_T21 = np.linspace(0.0, np.pi, 21)
_T25 = np.linspace(0, 2 * np.pi, 25)
_RING = np.stack([np.sign(np.cos(_T25)) * np.abs(np.cos(_T25)) ** 0.6,       # rounded-rectangle
                  np.sign(np.sin(_T25)) * np.abs(np.sin(_T25)) ** 0.8], 1)   # spectacle rim
_BROW_S = np.linspace(0, 1, 17)[:, None] ** 0.6                        # brow tail 0 .. inner end 1
_LASH_S = np.linspace(1.0, 0.3, 13)[:, None]


def _hair_end(length: float) -> float:
    """Head-frame Y where the side hair ends: above the ears when short, past the jaw when long."""
    return -0.2 + 2.1 * max(length - 0.15, 0.0)


def _body(cv: _Canvas, f: _Face, col, params) -> None:
    """Shoulders, back hair, neck and ears: all from the neutral head frame."""
    hf, idt = f.hf, params.identity
    cv.poly(hf.point(*_SHOULDERS), col["cloth"])
    cv.soft("soft", hf.point([-0.7, -0.3, 0.3, 0.7, 0.4, -0.4], [1.4, 1.4, 1.4, 1.4, 1.7, 1.7]), 0.5)
    if idt.hair_length > 0.3:   # hair behind the head and neck, falling onto the shoulders
        end = _hair_end(idt.hair_length) + 0.04
        vol = 0.05 + 0.1 * idt.hair_length
        xe = 1.07 + vol + 0.07 * end
        xs = np.concatenate([(1.07 + vol) * np.cos(_T9), [-xe, -0.6, 0.0, 0.6, xe]])
        ys = np.concatenate([-(1.1 + vol) * np.sin(_T9), [end, end + 0.02, end + 0.05, end + 0.02, end]])
        cv.poly(hf.point(xs, ys), col["hair"] * 0.62)
    cv.poly(hf.point(*_NECK), col["skin"] * 0.9)
    cv.soft("soft", np.concatenate([f.p0[3:14], (f.p0[3:14] + 0.12 * hf.b * f.v)[::-1]]), 0.9)
    for side in (-1.0, 1.0):   # ears, half hidden behind the face
        c = hf.point(side * 1.0, 0.12)
        cv.poly(f.ellipse(c, 0.15 * hf.a, 0.27 * hf.b), col["skin"] * 0.93)
        inner = f.ellipse(c + side * 0.04 * hf.a * f.u, 0.07 * hf.a, 0.17 * hf.b)
        cv.line(inner[[12, 13, 14, 15, 0, 1, 2, 3]] if side > 0 else inner[4:13], col["skin"] * 0.72, 0.6)


def _skin(cv: _Canvas, f: _Face, col) -> None:
    cv.poly(np.concatenate([spline(f.p[:17]), forehead_arc(f.p0, f.hf)]), col["skin"])
    # Shading from the neutral outline: a dropped jaw then keeps the shade of the under-chin.
    outline = np.concatenate([spline(f.p0[:17]), forehead_arc(f.p0, f.hf)])
    centre = f.hf.point(0.0, 0.3)
    cv.soft("soft", outline, 0.75)                       # darker towards the face's edge
    cv.soft("soft", centre + 0.78 * (outline - centre), 0.0)
    for sd in (-1.0, 1.0):                               # hollows under the cheekbones
        cv.soft("soft", f.ellipse(f.hf.point(sd * 0.72, 0.5), 0.16 * f.hf.a, 0.28 * f.hf.b), 0.45)


def _eyes(cv: _Canvas, f: _Face, col, params) -> None:
    p, k, v, u = f.p, f.k, f.v, f.u
    age_w = _clip01((params.identity.age - 30) / 40)
    for side, idx, brow in (("r", [36, 37, 38, 39, 40, 41], 20), ("l", [45, 44, 43, 42, 47, 46], 23)):
        e = p[idx]                      # outer corner, upper lid x2, inner corner, lower lid x2
        out = -u if side == "r" else u
        ew = float(np.hypot(*(e[3] - e[0])))
        upper, lower = spline(e[[0, 1, 2, 3]]), spline(e[[3, 4, 5, 0]])
        e0 = f.p0[idx]                  # the socket's shadow stays put when the lids move
        cv.soft("soft", f.ellipse((e0[1] + e0[2] + p[brow]) / 3 + 0.1 * ew * out, 0.75 * ew, 0.38 * ew), 0.35)
        a4 = f.brow_lowered(side)     # the lowered brow overhangs the eye and shades it from above
        if a4 > 0.02:
            cv.soft("shade", f.ellipse(0.5 * (e[1] + e[2]) + 0.06 * ew * out, 0.6 * ew, 0.3 * ew), a4)
        cv.poly(np.concatenate([upper, lower[1:-1]]), (0.97, 0.96, 0.94))
        # Iris between the corners and the lid centres (so lids cover it as they close), then
        # skin-coloured lid bands hide whatever of it lies outside the opening.
        r = 0.20 * ew       # iris diameter 0.4 of the eye's width (about 12 of 30 mm in adults)
        # The eyeball does not move with the lids: the iris sits where the neutral lids put it, so
        # AU5 bares the sclera above it and AU6/AU7 cover it from below.
        c = 0.25 * (e0[0] + e0[3]) + 0.125 * (e0[1] + e0[2] + e0[4] + e0[5]) + 0.04 * ew * params.nuisance.yaw * u
        cv.poly(f.ellipse(c, r, r), col["iris"] * 0.6)
        cv.poly(f.ellipse(c, 0.8 * r, 0.8 * r), col["iris"])
        cv.poly(f.ellipse(c, 0.42 * r, 0.42 * r), (0.05, 0.04, 0.04))
        cv.poly(f.ellipse(c + 0.35 * r * (u - v), 0.18 * r, 0.18 * r), (0.97, 0.97, 0.97))
        cv.poly(np.concatenate([upper, (upper - 2.6 * r * v)[::-1]]), col["skin"])
        cv.poly(np.concatenate([lower, (lower + 2.6 * r * v)[::-1]]), col["skin"])
        th = (0.012 + 0.012 * _LASH_S) * k       # lash line, thicker towards the outer corner
        cv.poly(np.concatenate([upper + 0.2 * th * v, (upper - th * v)[::-1]]), col["lash"])
        if params.identity.masculinity < 0.5:
            cv.poly([e[0] + 0.01 * k * v, e[0] + 0.05 * k * (out - 0.4 * v), e[0] - 0.02 * k * v], col["lash"])
        cv.line(lower + 0.006 * k * v, col["skin"] * 0.8, 0.5)
        a5 = f.au(5, side)                       # the lid crease rises and fades as the lid lifts
        crease = upper[2:-1] - (0.035 + 0.03 * a5) * k * v - 0.01 * k * out
        cv.line(crease, col["skin"] * (1 - 0.2 * (1 - 0.7 * a5)), 0.6)
        bulge = 0.4 * age_w + 0.7 * f.au(6, side) + 0.5 * f.au(7, side)   # lower-lid bulge
        if bulge > 0.02:
            cv.line(lower[1:-1] + 0.045 * k * v, col["skin"] * (1 - 0.16 * min(bulge, 1.2)), 0.55)


def _brows(cv: _Canvas, f: _Face, col, params) -> None:
    th0 = (0.05 + 0.065 * params.identity.brow_thickness) * f.k * (0.4 + 0.6 * _BROW_S)
    for idx, side in (([17, 18, 19, 20, 21], "r"), ([26, 25, 24, 23, 22], "l")):
        th = th0 * (1.0 + 0.5 * f.brow_lowered(side) * _BROW_S**2)   # bunched by lowering
        cl = spline(f.p[idx])
        cv.poly(np.concatenate([cl - 0.5 * th * f.v, (cl + 0.5 * th * f.v)[::-1]]), col["brow"])
        core = np.concatenate([cl[6:] - 0.25 * th[6:] * f.v, (cl[6:] + 0.3 * th[6:] * f.v)[::-1]])
        cv.poly(core, col["brow"] * 0.8)


def _nose(cv: _Canvas, f: _Face, col, params) -> None:
    p, k, u, v = f.p, f.k, f.u, f.v
    nw = 1.0 + 0.15 * f.au_mean(9)
    nz = params.nuisance     # the side away from the light gets a drawn contour, as in a portrait
    lit_right = np.cos(nz.light_angle) * nz.light_strength >= 0
    for side, a, b in ((-1.0, 31, 32), (1.0, 35, 34)):
        o = side * u
        c = 0.55 * p[a] + 0.45 * p[b] - 0.01 * k * v
        cv.poly(f.ellipse(c, 0.05 * k * nw, 0.022 * k) + 0.012 * k * v * _CIRCLE[:, :1] * side,
                col["skin"] * 0.28)
        wing = spline([p[a] - 0.09 * k * v, p[a] + 0.035 * k * o - 0.03 * k * v,
                       p[a] + 0.015 * k * o + 0.015 * k * v, c + 0.022 * k * v])
        cv.line(wing, col["skin"] * 0.66, 0.8)
        side_line = [p[27] + 0.1 * k * o, p[29] + 0.09 * k * o, p[a] - 0.09 * k * v + 0.01 * k * o]
        cv.soft("shade", side_line, 0.55, 2.2)
        if (side > 0) == lit_right:
            cv.line(spline(side_line), col["skin"] * 0.86, 0.45)
    cv.soft("shade", f.ellipse(p[33] + 0.035 * k * v, 0.17 * k, 0.035 * k), 0.8)
    cv.soft("light", [p[28], p[30] - 0.02 * k * v], 0.55, 1.4)
    cv.soft("light", f.ellipse(p[30] + 0.01 * k * v, 0.045 * k, 0.04 * k), 0.8)


def _marks(cv: _Canvas, f: _Face, col, params) -> None:
    """Age lines and the appearance changes of AUs, each on its side and in its region."""
    p, p0, k, u, v, hf = f.p, f.p0, f.k, f.u, f.v, f.hf
    age = params.identity.age
    age_w = _clip01((age - 28) / 40)
    skin = col["skin"]

    def mark(pts, strength, width=0.55):
        if strength > 0.02:
            cv.line(pts, skin * (1 - 0.22 * min(strength, 1.3)), width)

    # Forehead: horizontal lines, centre from AU1, sides from AU2 (and AU1 a little).
    y_brow = float(np.mean((p0[17:27] - hf.c) @ hf.v)) / hf.b
    xs_r, xs_c = np.linspace(-0.5, -0.17, 4), np.linspace(-0.2, 0.2, 4)
    for j, frac in enumerate((0.3, 0.45, 0.6)):
        y = y_brow + frac * (-1 - y_brow)
        base = 0.6 * age_w * (1 - 0.25 * j)
        mark(hf.point(xs_r, y + 0.05 * xs_r**2), base + f.au(2, "r") + 0.4 * f.au(1, "r"))
        mark(hf.point(xs_c, y + 0.05 * xs_c**2), base + f.au_mean(1) + 0.2 * f.au_mean(2))
        mark(hf.point(-xs_r, y + 0.05 * xs_r**2), base + f.au(2, "l") + 0.4 * f.au(1, "l"))
    a4 = f.au_mean(4)       # glabella: vertical furrows between the brow heads, where they are,
    g = 1.3 * a4 + 0.3 * age_w              # and AU4's horizontal procerus line at the nose root
    for t in (0.3, 0.7):
        top = p[21] + t * (p[22] - p[21]) - 0.03 * k * v
        mark(spline([top, top + 0.06 * k * v + 0.01 * k * (0.5 - t) * u, top + 0.11 * k * v]), g, 0.5)
    down = 0.5 * (f.brow_lowered("r") + f.brow_lowered("l"))      # procerus pulls the brows down
    if down > 0.02:
        mark(spline([p0[27] - 0.05 * k * u, p0[27] + 0.012 * k * v, p0[27] + 0.05 * k * u]), down)
    a9 = f.au_mean(9)                          # nose-root wrinkles
    for t in (0.25, 0.5, 0.75):
        c = p0[27] + t * (p0[28] - p0[27])
        mark(spline([c - 0.065 * k * u, c - 0.01 * k * v, c + 0.065 * k * u]), a9)
    for side, corner, eye_out, wing in (("r", 48, 36, 31), ("l", 54, 45, 35)):
        o = -u if side == "r" else u
        au = {n: f.au(n, side) for n in (6, 9, 10, 12, 14, 15)}
        cf = 0.9 * _clip01((age - 38) / 35) + 0.9 * au[6]          # crow's feet
        for ang in (-0.45, 0.0, 0.45):
            d = np.cos(ang) * o + np.sin(ang) * v
            mark([p0[eye_out] + 0.06 * k * o + 0.02 * k * d, p0[eye_out] + 0.06 * k * o + 0.11 * k * d], cf)
        # Nasolabial fold: age, deepened by AU9/10/12; its lower end follows the mouth corner.
        nl = 0.25 + 0.5 * age_w + 0.7 * au[12] + 0.6 * au[10] + 0.3 * au[9]
        fold = spline([p[wing] + 0.04 * k * o - 0.04 * k * v, p[wing] + 0.08 * k * o + 0.06 * k * v,
                       p[corner] + 0.07 * k * o - 0.01 * k * v, p[corner] + 0.06 * k * o + 0.08 * k * v])
        mark(fold, nl, 0.6 + 0.3 * min(nl, 1))
        cv.soft("shade", fold + 0.02 * k * o, 0.35 * min(nl, 1.3), 2)
        # Cheek apple: blush, raised and highlighted by AU6 (and AU12 a little).
        apple = 0.4 * p0[wing] + 0.6 * p0[eye_out] + (0.22 - 0.05 * au[6] - 0.03 * au[12]) * k * v
        cv.soft("blush", f.ellipse(apple, 0.17 * k, 0.12 * k), 1.0)
        cv.soft("light", f.ellipse(apple - 0.02 * k * v, 0.1 * k, 0.06 * k), 0.25 + 0.45 * au[6] + 0.25 * au[12])
        mark(spline([p[corner] + 0.05 * k * o - 0.03 * k * v, p[corner] + 0.065 * k * o,   # dimple
                     p[corner] + 0.05 * k * o + 0.035 * k * v]), 1.2 * au[14], 0.6)
        mark([p[corner] + 0.02 * k * (o + v), p[corner] + 0.03 * k * o + 0.1 * k * v],   # AU15, age
             au[15] + 0.6 * _clip01((age - 50) / 25))
        if au[15] > 0.02:      # AU15: the depressor bunches the skin below and beside the corner
            cv.soft("shade", f.ellipse(p[corner] + 0.035 * k * (o + v), 0.035 * k, 0.05 * k), 0.6 * au[15])
    _chin(cv, f, skin)


def _chin(cv: _Canvas, f: _Face, skin) -> None:
    """Chin boss wrinkling (AU17): a stipple on the chin and a deeper groove under the lower lip."""
    p, k, u, v = f.p, f.k, f.u, f.v
    a17 = f.au_mean(17)
    chin = 0.45 * p[57] + 0.55 * p[8]
    if a17 > 0.02:
        for d in cv.st.stipple:
            q = chin + d[0] * 0.14 * k * u + d[1] * 0.07 * k * v
            cv.poly(f.ellipse(q, 0.013 * k, 0.013 * k, _CIRCLE[::4]), skin * (1 - 0.25 * a17))
    cv.soft("shade", f.ellipse(0.5 * p[57] + 0.5 * chin - 0.01 * k * v, 0.11 * k, 0.03 * k), 0.35 + 0.45 * a17)
    cv.soft("light", f.ellipse(chin + 0.04 * k * v, 0.09 * k, 0.06 * k), 0.35)


def _mouth(cv: _Canvas, f: _Face, col) -> None:
    p, k, v = f.p, f.k, f.v
    cv.poly(spline(p[48:60], closed=True), col["lip"])
    up_out, up_in, lo_in = spline(p[48:55]), spline(p[60:65]), spline(p[[60, 67, 66, 65, 64]])
    cv.poly(np.concatenate([up_out, up_in[::-1]]), col["lip_up"])
    cv.line(up_in, col["lip"] * 0.55, 0.6)
    gap = (lo_in - up_in) @ v
    if gap.max() > 0.01 * k:     # lips apart: mouth cavity, upper teeth, lower teeth if wide open
        # AU20 stretches the lips back and pulls the lower lip down off the lower teeth: less of
        # the upper teeth, more of the lower ones (the tense open mouth of fear).
        a20 = f.au_mean(20)
        cv.poly(np.concatenate([up_in, lo_in[::-1]]), (0.25, 0.08, 0.08))
        bottom = up_in + np.minimum((0.055 - 0.03 * a20) * k, np.maximum(gap, 0))[:, None] * v
        cv.poly(np.concatenate([up_in, bottom[::-1]]), (0.93, 0.91, 0.84))
        for j in (4, 6, 8, 10, 12):
            cv.line([up_in[j], bottom[j]], (0.72, 0.7, 0.66), 0.3)
        low_h = np.clip(np.minimum(gap - (0.075 - 0.05 * a20) * k, 0.5 * gap), 0, 0.03 * k)[:, None]
        if low_h.max() > 0:
            cv.poly(np.concatenate([lo_in, (lo_in - low_h * v)[::-1]]), (0.82, 0.8, 0.74))
    for c in (p[48], p[54]):
        cv.poly(f.ellipse(c, 0.014 * k, 0.014 * k, _CIRCLE[::2]), col["lip"] * 0.6)
    cv.soft("light", f.ellipse(0.5 * p[57] + 0.5 * p[66] + 0.01 * k * v, 0.06 * k, 0.015 * k), 0.6)


def _hairline(idt, y_brow: float, side: float) -> tuple[np.ndarray, np.ndarray]:
    """Hairline from the right temple over the forehead to the left temple (head-frame units)."""
    c, s = np.cos(_T21), np.sin(_T21)
    hx = 0.93 * np.sign(c) * np.abs(c) ** 1.0
    hy = -0.97 * np.abs(s) ** 1.0
    recede = idt.sex * _clip01((idt.age - 35) / 35) * 0.6       # temples recede with age (men)
    hy = hy - recede * 0.18 * np.exp(-(((np.abs(hx) - 0.55) / 0.2) ** 2))
    if idt.hair_style == 1:     # side parting: a lock swept diagonally from the parting down
        t = np.clip((0.35 * side - hx) * side / 1.2, 0, 1)          # 0 at the parting
        hy = np.where((t > 0) & (np.abs(hx) < 0.9), np.maximum(hy, -0.9 + 0.35 * np.sqrt(t)), hy)
    elif idt.hair_style == 2:   # fringe down to just above the brows
        fr = y_brow - 0.17 + 0.03 * np.cos(np.arange(len(hx)) * 2.7)
        w = np.clip((0.9 - np.abs(hx)) / 0.2, 0, 1)
        hy = hy + w * np.maximum(fr - hy, 0)
    return hx, hy


def _hair(cv: _Canvas, f: _Face, col, params, key: str) -> None:
    """Front hair: one outline round the skull and down the sides, with the hairline inside."""
    idt, hf = params.identity, f.hf
    vol = 0.04 + 0.1 * idt.hair_length
    side = 1.0 if _hash01(key, 7) < 0.5 else -1.0
    end = _hair_end(idt.hair_length)
    y_brow = float(np.mean((f.p0[17:27] - hf.c) @ hf.v)) / hf.b
    hx, hy = _hairline(idt, y_brow, side)
    ax, ay = (1.07 + vol) * np.cos(_T15), -(1.13 + 1.3 * vol) * np.sin(_T15) + 0.02
    if end > 0:          # hair hanging down both sides, flaring a little, with wavy ends
        ys = np.linspace(0.0, end, 5)[1:]
        xo, xi = 1.07 + vol + 0.07 * ys, 0.93 - 0.03 * ys
        right_out = np.stack([xo[::-1], ys[::-1]], 1)
        tips = np.stack([np.linspace(xo[-1], xi[-1], 5)[1:-1], end + 0.04 * np.array([1.0, -1.0, 0.5])], 1)
        right_in = np.stack([xi, ys], 1)
        mirror = np.array([-1.0, 1.0])
        pts = np.concatenate([right_out, np.stack([ax, ay], 1), right_out[::-1] * mirror, tips[::-1] * mirror,
                              right_in[::-1] * mirror, np.stack([hx[::-1], hy[::-1]], 1), right_in, tips])
    else:                # short: the hair stops above the ears
        ko, ki = ay <= end + 0.02, hy <= end
        pts = np.concatenate([np.stack([ax[ko], ay[ko]], 1), np.stack([hx[ki][::-1], hy[ki][::-1]], 1)])
    cv.poly(hf.point(pts[:, 0], pts[:, 1]), col["hair"])
    for j, x in enumerate(np.linspace(-0.7, 0.7, 8)):    # strands from the crown to the hairline
        yl = float(np.interp(x, hx[::-1], hy[::-1]))
        cv.line(hf.point([0.25 * x + 0.1 * side, 0.7 * x, 0.95 * x], [-1.1 - vol, -0.95 - 0.4 * vol, yl - 0.04]),
                col["hair"] * (0.8 if j % 2 else 1.1), 0.5)
    if end > 0.2:
        for sd in (-1.0, 1.0):
            for x0 in (0.98, 1.04 + 0.5 * vol):
                cv.line(hf.point(sd * np.array([x0, x0 + 0.02, x0 + 0.05]), [-0.3, 0.45 * end, 0.95 * end]),
                        col["hair"] * 0.8, 0.5)
    if idt.hair_style == 1:
        cv.line(hf.point([0.33 * side, 0.35 * side], [-1.0 - 0.5 * vol, -0.93]), col["hair"] * 0.6, 0.6)
    cv.soft("soft", hf.point(hx, hy + 0.02), 0.5, 2.5)      # the hair's shadow along the hairline
    cv.soft("light", hf.point(0.4 * np.cos(_T15) - 0.2, -1.05 - vol - 0.06 * np.sin(_T15)), 0.45, 2)


def _glasses(cv: _Canvas, f: _Face, col) -> None:
    p0, k, u, v = f.p0, f.k, f.u, f.v
    width = 1.1       # frame thickness, pixels at 96 px
    inner_tops = []
    for idx, sd in ((np.arange(36, 42), -1.0), (np.arange(42, 48), 1.0)):
        ew = float(np.hypot(*(p0[idx[3]] - p0[idx[0]])))
        c = p0[idx].mean(0) - 0.02 * k * v
        cv.line(f.ellipse(c, 0.72 * ew, 0.48 * ew, _RING), col["frame"], width)
        cv.soft("light", [c + 0.4 * ew * (-u - v), c + 0.2 * ew * (u - v)], 0.5, 1)
        cv.line([c + sd * 0.72 * ew * u - 0.25 * ew * v, f.hf.point(sd * 0.99, -0.05)], col["frame"], width)
        inner_tops.append(c - sd * 0.72 * ew * u - 0.2 * ew * v)
    cv.line(spline([inner_tops[0], p0[27] - 0.03 * k * v, inner_tops[1]]), col["frame"], width)


def _stubble_mask(f: _Face, st: _Setup) -> np.ndarray:
    """Where stubble grows (jaw, chin, upper lip; not the lips), soft-edged, output pixels."""
    p, k, v = f.lm, f.k / st.ss, f.v
    im = Image.new("L", (st.size, st.size), 0)
    d = ImageDraw.Draw(im)
    beard = np.concatenate([p[2:15], [0.6 * p[14] + 0.4 * p[35], p[35] + 0.02 * k * v,
                                      p[33] + 0.02 * k * v, p[31] + 0.02 * k * v, 0.6 * p[2] + 0.4 * p[31]]])
    d.polygon(beard.ravel().tolist(), fill=255)
    d.polygon(spline(p[48:60], closed=True).ravel().tolist(), fill=0)
    return np.asarray(im.filter(ImageFilter.GaussianBlur(st.size / 96)), np.float32) * (1 / 255)


# ----------------------------------------------------------------------------- compositing

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_BLUSH = np.array([0.0, 0.35, 0.3], np.float32)[:, None, None]


@lru_cache(maxsize=1)
def _normal_table() -> np.ndarray:
    """Standard-normal quantiles of 4096 equal-probability bins: 12 random bits -> N(0, 1).

    Looking random bits up in this small (cache-resident) table is several times faster than
    ``standard_normal`` and indistinguishable from it at 8-bit output precision.
    """
    from scipy.special import ndtri
    return ndtri((np.arange(4096) + 0.5) / 4096).astype(np.float32)


def _draw(params: FaceParams, st: _Setup, key: str) -> tuple[_Canvas, _Face, dict]:
    f = _face(params, st.size, st.ss)
    col = _colours(params, key)
    cv = _Canvas(st, params.nuisance.background)
    _body(cv, f, col, params)
    _skin(cv, f, col)
    _eyes(cv, f, col, params)
    _brows(cv, f, col, params)
    _nose(cv, f, col, params)
    _marks(cv, f, col, params)
    _mouth(cv, f, col)
    _hair(cv, f, col, params, key)
    if params.identity.glasses:
        _glasses(cv, f, col)
    return cv, f, col


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``(C, H, W)`` over H and W, edges replicated.

    The nuisance blur is mostly below 0.5 px, where a 3-tap kernel is the Gaussian to within
    0.1 % and a few numpy slices are several times faster than scipy's filter.
    """
    if sigma > 0.5:
        return gaussian_filter(img, (0, sigma, sigma), mode="nearest", truncate=3.0)
    w = float(np.exp(-0.5 / sigma**2))
    w, w0 = np.float32(w / (1 + 2 * w)), np.float32(1 / (1 + 2 * w))
    for axis in (1, 2):
        pad = np.concatenate([img.take([0], axis), img, img.take([-1], axis)], axis)
        lo = [slice(None)] * 3
        mid, hi = list(lo), list(lo)
        lo[axis], mid[axis], hi[axis] = slice(0, -2), slice(1, -1), slice(2, None)
        img = w0 * pad[tuple(mid)] + w * (pad[tuple(lo)] + pad[tuple(hi)])
    return img


def _compose(params: FaceParams, size: int, grayscale: bool,
             draws: Draws | None = None) -> tuple[np.ndarray, np.ndarray]:
    st = _setup(size)
    draws = draws or Draws.of(params)
    cv, f, col = _draw(params, st, draws.look_key)
    nz = params.nuisance
    # Channel-first float: the (H, W) layers then broadcast over the leading axis, which numpy
    # does several times faster than over a trailing axis of length 3. All per-pixel factors are
    # folded into one multiplier and one offset before touching the colour image.
    img = np.asarray(cv.base.reduce(st.ss)).transpose(2, 0, 1).astype(np.float32) * (1 / 255)
    light = 0.3 * cv.blurred("light")
    mult = (1 - 0.4 * cv.blurred("soft") - 0.3 * cv.blurred("shade")) * (1 - light)
    offset = light
    if params.identity.stubble > 0:     # stubble: mix towards a dark hair colour
        m = _stubble_mask(f, st) * st.stubble * (0.55 * params.identity.stubble)
        mult = mult * (1 - m)
        offset = offset + m * (0.5 * col["hair"].astype(np.float32))[:, None, None]
    if nz.light_strength:               # illumination gradient across the whole picture
        grad = 1 + nz.light_strength * (np.cos(nz.light_angle) * st.gx + np.sin(nz.light_angle) * st.gy)
        mult, offset = mult * grad, offset * grad
    blush = cv.blurred("blush") * (0.08 + 0.1 * (1 - params.identity.masculinity))
    img = img * (mult * (1 - blush * _BLUSH)) + offset
    if grayscale:
        img = np.tensordot(_LUMA, img, 1)[None]
    if nz.blur > 0:
        img = _blur(img, nz.blur * size / 96)
    if nz.noise > 0:
        # Seeded by the whole parameter set (Draws.of), so the noise is part of the image's
        # identity; a counterfactual keeps the original's.
        bits = np.random.SFC64(draws.noise_seed).random_raw(-(-img.size // 4))
        idx = bits.view(np.uint16)[:img.size] & 0xFFF
        img = img + _normal_table()[idx].reshape(img.shape) * np.float32(nz.noise)
    img = img * 255 + 0.5
    u8 = np.clip(img, 0, 255, out=img).astype(np.uint8)
    if grayscale:
        return u8[0], f.lm
    out = np.empty((size, size, 3), np.uint8)
    out[..., 0], out[..., 1], out[..., 2] = u8     # cheaper than a transposing copy
    return out, f.lm


def render(params: FaceParams, size: int = 96, grayscale: bool = False, *,
           draws: Draws | None = None) -> np.ndarray:
    """Render one face.

    Parameters
    ----------
    params : FaceParams
        Identity, per-side AU intensities and nuisance of the face.
    size : int
        Side of the square image, 48..256 pixels.
    grayscale : bool
        Return ``(H, W)`` luminance instead of ``(H, W, 3)`` RGB.
    draws : Draws, optional
        The noise and minor looks to use (default: those of ``params``, :meth:`Draws.of`).

    Returns
    -------
    ndarray of uint8, shape ``(size, size, 3)`` or ``(size, size)``
    """
    return _compose(params, check_size(size), grayscale, draws)[0]


def render_with_landmarks(params: FaceParams, size: int = 96, grayscale: bool = False, *,
                          draws: Draws | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`render` plus the face's 68 landmarks ``(68, 2)`` in pixels, computed once."""
    return _compose(params, check_size(size), grayscale, draws)
