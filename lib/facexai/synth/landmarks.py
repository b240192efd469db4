"""The 68 facial landmarks of a SynthFace, in the iBUG 300-W order.

A canonical mean face (the dlib / OpenFace alignment template, made exactly left-right symmetric)
lives in a *canonical frame*: x to the image right, y down, the eye line at ``y = 0``, the face
about two units wide. It is deformed, in this order, by

1. the identity factors (face width/length, jaw, eyes, nose, lips, asymmetry, age sag),
2. the Action Units: each AU is a fixed displacement field at intensity 1, applied per side
   (``au_right`` moves the subject's right half = image left, midline points take the mean),
   plus the FACS 1+4 / 2+4 brow interactions (AU1/AU2 hold up the brow AU4 would lower),
3. the nuisance: a fake yaw (points shift sideways in proportion to their depth), then a
   similarity transform (roll, scale, shift) into pixels.

iBUG indices: 0-16 jaw (image left to right through the chin), 17-21 subject's right brow
(image left), 22-26 left brow, 27-30 nose bridge, 31-35 nose base, 36-41 right eye, 42-47 left
eye, 48-59 outer lip, 60-67 inner lip.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from facexai.synth.factors import AUS, FaceParams, Identity, Nuisance

#: Canonical frame -> image: one canonical unit is ``FRAME_UNIT * size`` pixels and the
#: canonical origin (the eye line at the face midline) sits at ``FRAME_CENTER * size``.
FRAME_UNIT = 0.25
FRAME_CENTER = (0.5, 0.45)

# OpenFace's dlib mean shape (unit box), the usual alignment template.
_OPENFACE = np.array([
    (0.0792396913815, 0.339223741112), (0.0829219487236, 0.456955367943),
    (0.0967927109165, 0.575648016728), (0.122141515615, 0.691921601066),
    (0.168687863544, 0.800341263616), (0.239789390707, 0.895732504778),
    (0.325662452515, 0.977068762493), (0.422318282013, 1.04329000149),
    (0.531777802068, 1.06080371126), (0.641296298053, 1.03981924107),
    (0.738105872266, 0.972268833998), (0.824444363295, 0.889624082279),
    (0.894792677532, 0.792494155836), (0.939395486253, 0.681546643421),
    (0.96111933829, 0.562238253072), (0.970579841181, 0.441758925744),
    (0.971193274221, 0.322118743967), (0.163846223133, 0.249151738053),
    (0.21780354657, 0.204255863861), (0.291299351124, 0.192367318323),
    (0.367460241458, 0.203582210627), (0.4392945113, 0.233135599851),
    (0.586445962425, 0.228141644834), (0.660152671635, 0.195923841854),
    (0.737466449096, 0.182360984545), (0.813236546239, 0.192828009114),
    (0.8707571886, 0.235293377042), (0.51534533827, 0.31863546193),
    (0.516221448289, 0.396200446263), (0.517118861835, 0.473797687758),
    (0.51816430343, 0.553157797772), (0.433701156035, 0.604054457668),
    (0.475501237769, 0.62076344024), (0.520712933176, 0.634268222208),
    (0.565874114041, 0.618796581487), (0.607054002672, 0.60157671656),
    (0.252418718401, 0.331052263829), (0.298663015648, 0.302646354002),
    (0.355749724218, 0.303020650651), (0.403718978315, 0.33867711083),
    (0.352507175597, 0.349987615384), (0.296791759886, 0.350478978225),
    (0.631326076346, 0.334136672344), (0.679073381078, 0.29645404267),
    (0.73597236153, 0.294721285802), (0.782865376271, 0.321305281656),
    (0.740312274764, 0.341849376713), (0.68499850091, 0.343734332172),
    (0.353167761422, 0.746189164237), (0.414587777921, 0.719053835073),
    (0.477677654595, 0.706835892494), (0.522732900812, 0.717092275768),
    (0.569832064287, 0.705414478982), (0.635195811927, 0.71565572516),
    (0.69951672331, 0.739419187253), (0.639447159575, 0.805236879972),
    (0.576410514055, 0.835436670169), (0.525398405766, 0.841706377792),
    (0.47641545769, 0.837505914975), (0.41379548902, 0.810045601727),
    (0.380084785646, 0.749979603086), (0.477955996282, 0.74513234612),
    (0.523389793327, 0.748924302636), (0.571057789237, 0.74332894691),
    (0.672409137852, 0.744177032192), (0.572539621444, 0.776609286626),
    (0.5240106503, 0.783370783245), (0.477561227414, 0.781573629107),
])

#: Index of each landmark's mirror image (subject's right <-> left).
MIRROR = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46] + [39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65]
)
MIDLINE = np.flatnonzero(MIRROR == np.arange(68))


def _canonical_template() -> np.ndarray:
    """Symmetrised template in the canonical frame (eye line y=0, midline x=0)."""
    t = _OPENFACE.copy()
    mirrored = t[MIRROR].copy()
    cx = float(np.mean(t[:, 0] + mirrored[:, 0]) / 2)
    mirrored[:, 0] = 2 * cx - mirrored[:, 0]
    t = (t + mirrored) / 2
    # The mean shape has the lips slightly apart; a neutral face has them closed.
    for up, lo in ((61, 67), (62, 66), (63, 65)):
        t[[up, lo], 1] = t[[up, lo], 1].mean()
    eye_y = t[36:48, 1].mean()
    return (t - [cx, eye_y]) / 0.45


TEMPLATE = _canonical_template()

#: Right-side weight of every point (1 subject's right = image left, 0 left, 0.5 midline).
SIDE_RIGHT = np.where(TEMPLATE[:, 0] < -1e-9, 1.0, np.where(TEMPLATE[:, 0] > 1e-9, 0.0, 0.5))
SIDE_RIGHT[MIDLINE] = 0.5

#: Depth of each point towards the camera (0 at the ears, 1 at the nose tip), for the fake yaw.
DEPTH = np.clip(0.55 * (1.0 - np.abs(TEMPLATE[:, 0])), 0.0, None)
DEPTH[17:27] += 0.1
DEPTH[27:31] = (0.55, 0.7, 0.85, 1.0)
DEPTH[31:36] = (0.6, 0.75, 0.85, 0.75, 0.6)
DEPTH[48:68] = np.maximum(DEPTH[48:68], 0.55)


#: AU displacement fields at intensity 1 (see :func:`_au_fields`): ``AU: [(points, outward, up)]``.
_SPEC: dict[int, list[tuple[tuple[int, ...], float, float]]] = {
    # AU1 also lifts the inner third of the upper lid (the "triangular" lid of sadness/fear).
    1: [((21,), -0.01, 0.10), ((20,), 0.0, 0.085), ((19,), 0.0, 0.055), ((18,), 0.0, 0.025),
        ((38,), 0.0, 0.012)],
    2: [((17,), 0.0, 0.10), ((18,), 0.0, 0.10), ((19,), 0.0, 0.07), ((20,), 0.0, 0.035),
        ((21,), 0.0, 0.01)],
    # AU4: the inner brow is pulled down and to the midline most (corrugator, procerus), the
    # tail little; at full intensity the brow comes down onto the upper lid (FACS: it may cover
    # the lid), pushing the lid fold down and narrowing the eye.
    4: [((21,), -0.055, -0.16), ((20,), -0.04, -0.15), ((19,), -0.02, -0.12),
        ((18,), -0.01, -0.08), ((17,), 0.0, -0.05), ((38,), 0.0, -0.03), ((37,), 0.0, -0.022)],
    5: [((37,), 0.0, 0.045), ((38,), 0.0, 0.05), ((40, 41), 0.0, -0.008)],
    # AU6 pushes the lower lid up from below into an upward arc (the smiling "crescent");
    # AU7 tightens both lids: the lower lid rises to a straight line between the corners.
    6: [((40, 41), 0.0, 0.05), ((37, 38), 0.0, -0.008)],
    7: [((40, 41), 0.0, 0.032), ((37, 38), 0.0, -0.028)],
    9: [((31,), 0.012, 0.035), ((32,), 0.005, 0.035), ((33,), 0.0, 0.032),
        ((21,), 0.0, -0.03), ((20,), 0.0, -0.015),
        ((49, 50, 51, 61, 62), 0.0, 0.02), ((48, 60), 0.0, 0.008)],
    10: [((50, 51), 0.0, 0.06), ((49,), 0.0, 0.05), ((61, 62), 0.0, 0.05),
         ((48, 60), 0.0, 0.015), ((31,), 0.004, 0.012), ((32, 33), 0.0, 0.008)],
    12: [((48, 60), 0.09, 0.08), ((49, 59), 0.05, 0.045), ((61, 67), 0.04, 0.03),
         ((50, 58), 0.02, 0.02), ((51, 57, 62, 66), 0.0, 0.005)],
    14: [((48, 60), -0.035, 0.005), ((49, 59, 61, 67), -0.015, 0.0)],
    # AU15: the corners are pulled down and the lateral lower lip with them (a down-turned arc).
    15: [((48, 60), -0.01, -0.09), ((49, 59, 61, 67), 0.0, -0.04), ((50, 58), 0.0, -0.012)],
    17: [((57, 66), 0.0, 0.06), ((58, 67), 0.0, 0.05), ((59,), 0.0, 0.025),
         ((51, 62), 0.0, 0.015), ((48, 60), 0.0, -0.03),
         ((8,), 0.0, 0.035), ((7,), 0.0, 0.03), ((6,), 0.0, 0.015)],
    # AU20: the corners are stretched sideways and a little down (risorius with platysma),
    # the lips flattened.
    20: [((48, 60), 0.1, -0.05), ((49, 61, 67), 0.06, -0.015), ((59,), 0.06, 0.01),
         ((50,), 0.03, -0.025), ((51,), 0.0, -0.03), ((58,), 0.03, 0.035), ((57,), 0.0, 0.045),
         ((62,), 0.0, -0.008), ((66,), 0.0, 0.008)],
    # AU23: the red parts of the lips narrow (both lips roll in) and the mouth narrows.
    23: [((49, 50, 51), 0.0, -0.04), ((57, 58), 0.0, 0.04), ((59,), 0.0, 0.03),
         ((48, 60), -0.03, 0.0), ((61, 67), -0.012, 0.0)],
    25: [((61, 62), 0.0, 0.02), ((50, 51), 0.0, 0.012), ((66,), 0.0, -0.06),
         ((67,), 0.0, -0.05), ((57,), 0.0, -0.05), ((58,), 0.0, -0.045),
         ((59,), 0.0, -0.03), ((60,), 0.0, -0.004)],
    26: [((66,), 0.0, -0.15), ((67,), 0.0, -0.13), ((57,), 0.0, -0.15),
         ((58,), 0.0, -0.14), ((59,), 0.0, -0.1), ((48, 60), -0.02, -0.05),
         ((61, 62), 0.0, 0.01), ((8,), 0.0, -0.2), ((7,), 0.0, -0.18), ((6,), 0.01, -0.14),
         ((5,), 0.01, -0.09), ((4,), 0.005, -0.05), ((3,), 0.0, -0.02)],
}
#: Per-AU gains, tuned by eye so that CK+-style apex expressions read at a glance at 96 px; AU12
#: and AU15, then AU4 (brows lowered onto the lids, as FACS allows at E), AU20 (lips stretched
#: wide) and AU5 (at E the upper lid retracts well clear of the iris) raised within FACS's range
#: while the FER2013 network read seed-11 faces (:mod:`facexai.realism`; the book reports
#: another seed).
_GAIN = {1: 1.5, 2: 1.5, 4: 1.9, 5: 2.2, 6: 1.0, 7: 1.0, 9: 1.3, 10: 1.3, 12: 1.8, 14: 1.3,
         15: 2.1, 17: 1.3, 20: 2.0, 23: 1.3, 25: 1.3, 26: 1.5}


def _au_fields() -> np.ndarray:
    """Displacement of every landmark for each AU at full intensity, both sides, (n_AU, 68, 2).

    Written for the subject's right half plus the midline as ``(points, outward, up)`` in
    canonical units (outward = away from the midline), then mirrored to the left half.
    Eye corners 36/39/42/45, the nose bridge 27-30 and jaw points 0-2/14-16 never move: the head
    frame of :mod:`facexai.regions` is built on them, so AUs cannot shift the head outline.
    """
    fields = np.zeros((len(AUS), 68, 2))
    for k, au in enumerate(AUS):
        for points, out, up in _SPEC[au]:
            out, up = _GAIN[au] * out, _GAIN[au] * up
            for p in points:
                q = int(MIRROR[p])
                fields[k, p] = (-out if p != q else 0.0, -up)
                if q != p:
                    fields[k, q] = (out, -up)
    return fields


AU_FIELDS = _au_fields()
# Per-side fields flattened to (n_AU, 136): one matrix product per side applies all AUs.
_FIELDS_R = (AU_FIELDS * SIDE_RIGHT[None, :, None]).reshape(len(AUS), -1)
_FIELDS_L = (AU_FIELDS * (1.0 - SIDE_RIGHT)[None, :, None]).reshape(len(AUS), -1)

# FACS 1+4 and 2+4: frontalis lifts what the brow lowerers pull down. With AU1, AU4 no longer
# lowers the brow's inner end; with AU2, not its tail (interaction terms applied with the smaller
# intensity of each pair on each side); the middle of the brow stays lowered. So 1+4 gives oblique
# brows (sadness) and 1+2+4 raised brows flattened and drawn together (fear), not the arch of 1+2.
_K1, _K2, _K4 = AUS.index(1), AUS.index(2), AUS.index(4)
_INNER, _OUTER = [20, 21, 22, 23], [17, 26]
_COMBO = np.zeros((2, 68, 2))
_COMBO[0, _INNER, 1] = -AU_FIELDS[_K4, _INNER, 1]
_COMBO[1, _OUTER, 1] = -AU_FIELDS[_K4, _OUTER, 1]
_COMBO_R = (_COMBO * SIDE_RIGHT[None, :, None]).reshape(2, -1)
_COMBO_L = (_COMBO * (1.0 - SIDE_RIGHT)[None, :, None]).reshape(2, -1)

_EYE_R, _EYE_L = np.arange(36, 42), np.arange(42, 48)
_LIPS = np.arange(48, 68)


def _identity_shape(idt: Identity) -> np.ndarray:
    """Template deformed by the identity factors (canonical units)."""
    p = TEMPLATE.copy()
    x, y = p[:, 0], p[:, 1]
    masc = idt.masculinity
    sag = float(np.clip((idt.age - 30.0) / 50.0, 0.0, 1.0))
    # Whole-face proportions; inner features follow the outline only partly (as in real faces).
    x[:17] *= 1.0 + 0.08 * idt.face_width
    x[17:] *= 1.0 + 0.03 * idt.face_width
    below = y > 0
    y[below] *= 1.0 + 0.07 * idt.face_length + 0.02 * (masc - 0.5)
    # Jaw width acts most at the jaw angle (points 3-6 / 10-13), not at the ears or chin.
    jaw_w = np.array([0, 0, .3, .7, 1, 1, .7, .35, 0, .35, .7, 1, 1, .7, .3, 0, 0])
    x[:17] *= 1.0 + 0.11 * jaw_w * idt.jaw_width
    x[6:11] *= 1.0 + 0.12 * (masc - 0.5)          # squarer chin for masculine faces
    # Eyes: size about each eye's centre, spacing by moving the centres.
    for eye, sign in ((_EYE_R, -1.0), (_EYE_L, 1.0)):
        c = p[eye].mean(0)
        p[eye] = c + (p[eye] - c) * (1.08 + 0.12 * idt.eye_size + 0.04 * (0.5 - masc))
        p[eye, 0] += sign * 0.06 * idt.eye_spacing
    x[17:22] -= 0.03 * idt.eye_spacing
    x[22:27] += 0.03 * idt.eye_spacing
    # Brows: lower and flatter for masculine faces.
    y[17:27] += 0.035 * (masc - 0.5)
    y[[18, 19, 20, 23, 24, 25]] += 0.02 * (masc - 0.5)
    # Nose length from the root, nose width at the base.
    y[28:36] = y[27] + (y[28:36] - y[27]) * (1.0 + 0.1 * idt.nose_length)
    x[31:36] *= 1.0 + 0.15 * idt.nose_width + 0.05 * (masc - 0.5)
    # Lip fullness scales the lips' height about the mouth line.
    mouth_y = p[60:68, 1].mean()
    y[_LIPS] = mouth_y + (y[_LIPS] - mouth_y) * (1.0 + 0.25 * idt.lip_fullness - 0.1 * (masc - 0.5))
    x[_LIPS] *= 1.0 + 0.04 * idt.lip_fullness
    # Age: jowls, chin and lateral brows sag, upper lip thins, corners drop, nose lengthens.
    y[[4, 5, 6, 10, 11, 12]] += 0.04 * sag
    x[[4, 5, 11, 12]] += np.array([-1, -1, 1, 1]) * 0.02 * sag
    y[[7, 8, 9]] += 0.025 * sag
    y[[17, 18, 25, 26]] += 0.03 * sag
    y[[49, 50, 51, 52, 53]] += 0.02 * sag
    y[[48, 54, 60, 64]] += 0.02 * sag
    y[30:36] += 0.02 * sag
    y[[37, 38, 43, 44]] += 0.012 * sag
    # Asymmetry: right-minus-left differences in six places.
    a = idt.asymmetry * np.asarray(idt.asym_pattern, float)
    y[_EYE_R] += 0.04 * a[0]
    y[_EYE_L] -= 0.04 * a[0]
    y[17:22] += 0.05 * a[1]
    y[22:27] -= 0.05 * a[1]
    y[[48, 60]] += 0.04 * a[2]
    y[[54, 64]] -= 0.04 * a[2]
    x[30:36] += 0.04 * a[3] * np.array([1, .8, .8, .8, .8, .8])
    for eye, s in ((_EYE_R, 1.0), (_EYE_L, -1.0)):
        c = p[eye].mean(0)
        p[eye] = c + (p[eye] - c) * (1.0 + s * 0.08 * a[4])
    x[3:14] += 0.05 * a[5] * np.array([.2, .4, .6, .8, 1, 1, 1, .8, .6, .4, .2])
    return p


@lru_cache(maxsize=1024)
def _identity_shape_cached(idt: Identity) -> np.ndarray:
    # A subject is rendered many times (expressions, AU masks): shape it once.
    shape = _identity_shape(idt)
    shape.flags.writeable = False
    return shape


def identity_landmarks(identity: Identity) -> np.ndarray:
    """Neutral landmarks of a person (identity only, no AU, no nuisance), canonical units."""
    try:
        return _identity_shape_cached(identity)
    except TypeError:        # unhashable field values (e.g. a list): compute directly
        return _identity_shape(identity)


def au_displacement(au_right, au_left) -> np.ndarray:
    """Landmark displacement of the given per-side AU intensities (canonical units, (68, 2))."""
    au_r = np.clip(np.asarray(au_right, float), 0.0, 1.0)
    au_l = np.clip(np.asarray(au_left, float), 0.0, 1.0)
    d = au_r @ _FIELDS_R + au_l @ _FIELDS_L
    if au_r[_K4] > 0 or au_l[_K4] > 0:
        d = d + np.minimum(au_r[[_K1, _K2]], au_r[_K4]) @ _COMBO_R \
            + np.minimum(au_l[[_K1, _K2]], au_l[_K4]) @ _COMBO_L
    return d.reshape(68, 2)


def canonical_landmarks(params: FaceParams) -> np.ndarray:
    """Landmarks after identity and AUs, before the nuisance (canonical units, (68, 2))."""
    return identity_landmarks(params.identity) + au_displacement(params.au_right, params.au_left)


def to_image(points: np.ndarray, depth: np.ndarray | float, nuisance: Nuisance, size: int) -> np.ndarray:
    """Place canonical points into a ``size`` x ``size`` image under ``nuisance``.

    ``depth`` (per point or scalar) says how far a point stands out towards the camera; the
    fake yaw shifts points sideways in proportion to it and narrows the face a little.
    """
    pts = np.asarray(points, float)
    yaw = nuisance.yaw
    x = pts[..., 0] * (1.0 - 0.1 * abs(yaw)) + 0.35 * yaw * np.asarray(depth, float)
    y = pts[..., 1]
    th = np.deg2rad(nuisance.roll)
    c, s = np.cos(th), np.sin(th)
    k = FRAME_UNIT * size * nuisance.scale
    out = np.empty(pts.shape)
    out[..., 0] = k * (c * x - s * y) + size * (FRAME_CENTER[0] + nuisance.shift_x)
    out[..., 1] = k * (s * x + c * y) + size * (FRAME_CENTER[1] + nuisance.shift_y)
    return out


def landmarks(params: FaceParams, size: int) -> np.ndarray:
    """The 68 iBUG landmarks of a face, ``(68, 2)`` float64 ``(x, y)`` in pixels.

    Parameters
    ----------
    params : FaceParams
        Identity, AU intensities and nuisance of the face.
    size : int
        Side of the square image in pixels.
    """
    return to_image(canonical_landmarks(params), DEPTH, params.nuisance, size)
