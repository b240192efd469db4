"""Facial Action Units: what each one is, where on the face it acts, and how emotions use them.

The AU descriptions follow the FACS manual (Ekman, Friesen & Hager 2002); the emotion
prototypes follow EMFACS as used to label CK+ (Lucey et al. 2010, table 2). The anatomical
regions of each AU are the names of :data:`facexai.regions.REGIONS`: the renderer only changes
pixels there (a property the tests check), so a heatmap can be scored against them.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from facexai.regions import REGIONS
from facexai.synth.factors import AUS, EMOTIONS, STREAM_EXPRESSION, FaceParams, rng_for

_BROWS = ("right_brow", "left_brow")
_EYES = ("right_eye", "left_eye")
_CHEEKS = ("right_cheek", "left_cheek")


@dataclass(frozen=True)
class ActionUnit:
    """One FACS Action Unit as the generator models it."""

    number: int
    name: str
    muscles: str
    description: str          # the appearance changes FACS lists (those the renderer draws)
    regions: tuple[str, ...]  # regions of :data:`facexai.regions.REGIONS` it may change


AU_INFO: dict[int, ActionUnit] = {a.number: a for a in (
    ActionUnit(1, "Inner Brow Raiser", "frontalis, pars medialis",
               "raises the inner ends of the brows; horizontal wrinkles in the centre of the forehead",
               ("forehead",) + _BROWS + _EYES),
    ActionUnit(2, "Outer Brow Raiser", "frontalis, pars lateralis",
               "raises the outer ends of the brows; wrinkles in the lateral forehead",
               ("forehead",) + _BROWS + _EYES),
    ActionUnit(4, "Brow Lowerer", "corrugator supercilii, depressor supercilii, procerus",
               "lowers the brows and pulls them together; vertical furrows at the glabella",
               ("forehead", "nose") + _BROWS + _EYES),
    ActionUnit(5, "Upper Lid Raiser", "levator palpebrae superioris",
               "widens the eye opening; more sclera above the iris; the lid crease recedes",
               _EYES),
    ActionUnit(6, "Cheek Raiser", "orbicularis oculi, pars orbitalis",
               "raises the cheeks, narrows the eyes from below, bags under the eyes, crow's feet",
               _EYES + _CHEEKS),
    ActionUnit(7, "Lid Tightener", "orbicularis oculi, pars palpebralis",
               "tightens and raises the lower lid, narrows the eye opening",
               _EYES + _CHEEKS),
    ActionUnit(9, "Nose Wrinkler", "levator labii superioris alaeque nasi",
               "wrinkles the skin of the nose root, raises the nostril wings and upper lip, "
               "lowers the inner brows",
               ("forehead", "nose", "mouth") + _BROWS + _CHEEKS),
    ActionUnit(10, "Upper Lip Raiser", "levator labii superioris",
               "raises the upper lip, deepens the upper nasolabial furrow",
               ("nose", "mouth") + _CHEEKS),
    ActionUnit(12, "Lip Corner Puller", "zygomaticus major",
               "pulls the lip corners up and out, deepens the nasolabial furrow, raises the cheeks",
               ("mouth",) + _CHEEKS),
    ActionUnit(14, "Dimpler", "buccinator",
               "tightens the lip corners and pulls them inwards; dimples beside the corners",
               ("mouth",) + _CHEEKS),
    ActionUnit(15, "Lip Corner Depressor", "depressor anguli oris (triangularis)",
               "pulls the lip corners down; wrinkles below the corners",
               ("mouth", "chin_jaw") + _CHEEKS),
    ActionUnit(17, "Chin Raiser", "mentalis",
               "pushes the chin boss and lower lip up; wrinkles the chin skin",
               ("mouth", "chin_jaw")),
    ActionUnit(20, "Lip Stretcher", "risorius with platysma",
               "stretches the lips horizontally, flattening them",
               ("mouth", "chin_jaw") + _CHEEKS),
    ActionUnit(23, "Lip Tightener", "orbicularis oris",
               "tightens and narrows the lips, thinning their red parts",
               ("mouth", "chin_jaw")),
    ActionUnit(25, "Lips Part", "depressor labii inferioris, or relaxation of mentalis / orbicularis oris",
               "parts the lips; the upper teeth show",
               ("mouth", "chin_jaw")),
    ActionUnit(26, "Jaw Drop", "masseter relaxed; temporalis and internal pterygoid relaxed",
               "drops the jaw: the mouth opens, the chin moves down, the face lengthens",
               ("mouth", "chin_jaw") + _CHEEKS),
)}
assert tuple(AU_INFO) == AUS and all(set(a.regions) <= set(REGIONS) for a in AU_INFO.values())

#: EMFACS prototypes as published (CK+ criteria); letters are FACS intensities, R/L unilateral.
EMFACS: dict[str, str] = {
    "anger": "4+5+7+23", "contempt": "R12A+R14A", "disgust": "9 or 10, +15+16 (or +17)",
    "fear": "1+2+4+5+7+20+26", "happy": "6+12", "sadness": "1+4+15 (or +11, +17)",
    "surprise": "1+2+5B+26",
}

#: What the generator draws for each emotion code: ``{AU: relative intensity}`` of the core
#: AUs (each present with high probability) and the optional ones (present half the time).
#: Disgust uses 9+10+15+17 because AU16 is not modelled.
PROTOTYPES: dict[int, dict[int, float]] = {
    0: {},
    1: {4: 1.0, 5: 0.45, 7: 0.9, 23: 0.9},
    2: {12: 0.7, 14: 0.7},
    3: {9: 1.0, 10: 0.8, 15: 0.7, 17: 0.7},
    4: {1: 1.0, 2: 0.9, 4: 0.6, 5: 1.0, 7: 0.5, 20: 1.0, 26: 0.45},
    5: {6: 0.8, 12: 1.0},
    6: {1: 1.0, 4: 0.7, 15: 0.9},
    7: {1: 1.0, 2: 1.0, 5: 0.35, 26: 0.9},
}
OPTIONAL: dict[int, dict[int, float]] = {5: {25: 0.7}, 6: {17: 0.6}, 7: {25: 0.8}}
#: Alternative EMFACS prototypes: one of them (equally likely) joins the core AUs. Anger has a
#: closed-mouth form, lips pressed and chin raised (EMFACS 4+5+7+17+23), and the open one, upper
#: lip raised and lips apart (EMFACS 4+5+7+10+23+25,26), twice as often (with the jaw dropped
#: less or more).
VARIANTS: dict[int, tuple[dict[int, float], ...]] = {
    1: ({17: 0.8}, {10: 0.8, 25: 0.8, 26: 0.6}, {10: 0.8, 25: 0.8, 26: 0.8}),
}
#: CK+'s labelling criteria (Lucey et al. 2010, table 2): the AUs a face must show to carry the
#: emotion's label, so the generator always draws them (the other core AUs are present with
#: probability 0.9). Anger needs AU23 and AU24 (AU24 is not modelled); disgust AU9 or AU10 (we
#: require AU9); fear 1+2+4; happy AU12; sadness 1+4+15; surprise 1+2; contempt AU14.
REQUIRED: dict[int, frozenset[int]] = {1: frozenset({23}), 2: frozenset({14}), 3: frozenset({9}),
                                       4: frozenset({1, 2, 4}), 5: frozenset({12}),
                                       6: frozenset({1, 4, 15}), 7: frozenset({1, 2})}
#: FACS intensity letters as the generator's intensities (A trace ... E maximum).
FACS_LEVEL = {"A": 0.2, "B": 0.4, "C": 0.6, "D": 0.8, "E": 1.0}
#: Upper limits CK+ puts on an AU's intensity for a label: surprise's AU5 is at most B.
CAPS: dict[int, dict[int, float]] = {7: {5: FACS_LEVEL["B"]}}
#: Emotions whose prototype acts on one side only: the subject's right (EMFACS "R12A+R14A").
UNILATERAL_RIGHT: frozenset[int] = frozenset({2})
#: Probability of each emotion when none is asked for (neutral-heavy, like posed databases).
EMOTION_PROBS = np.array([0.3] + [0.1] * 7)


def emotion_code(emotion: int | str) -> int:
    """CK+ code of an emotion given as a code or a name; ValueError naming a bad one."""
    if isinstance(emotion, str):
        if emotion not in EMOTIONS:
            raise ValueError(f"unknown emotion {emotion!r}; choose from {EMOTIONS}")
        return EMOTIONS.index(emotion)
    if isinstance(emotion, bool) or int(emotion) != emotion or not 0 <= int(emotion) < len(EMOTIONS):
        raise ValueError(f"emotion code must be 0..{len(EMOTIONS) - 1}, got {emotion!r}")
    return int(emotion)


def sample_expression(seed: int, index: int, emotion: int | str | None = None
                      ) -> tuple[tuple[float, ...], tuple[float, ...], int]:
    """Draw the AU intensities of image ``index``: ``(au_left, au_right, emotion_code)``.

    The emotion is drawn (neutral-heavy) unless given. An apex intensity scales the prototype;
    one of the emotion's :data:`VARIANTS` (if any) joins its core AUs; the AUs CK+ requires for
    the label (:data:`REQUIRED`) are always present, each other core AU with probability 0.9 and
    each optional one with 0.5, intensities capped where CK+ says (:data:`CAPS`) and
    jittered by +-20 % and the two sides by +-10 %; every other AU appears weakly (0.05-0.25)
    with probability 0.08. The same number of random draws is made whatever the emotion, so
    the stream stays aligned.
    """
    rng = rng_for(seed, index, STREAM_EXPRESSION)
    u_emotion = rng.random()
    code = emotion_code(emotion) if emotion is not None else \
        int(np.searchsorted(np.cumsum(EMOTION_PROBS), u_emotion * EMOTION_PROBS.sum(), side="right"))
    code = min(code, len(EMOTIONS) - 1)
    apex = rng.uniform(0.7, 1.0)
    draws = rng.random((len(AUS), 5))
    variants = VARIANTS.get(code, ({},))
    core = {**PROTOTYPES[code], **variants[min(int(rng.random() * len(variants)), len(variants) - 1)]}
    optional = OPTIONAL.get(code, {})
    required, caps = REQUIRED.get(code, frozenset()), CAPS.get(code, {})
    left, right = np.zeros(len(AUS)), np.zeros(len(AUS))
    for k, au in enumerate(AUS):
        present, jitter, asym, extra, extra_level = draws[k]
        if au in core or au in optional:
            base = core.get(au, optional.get(au))
            if au in required or present < (0.9 if au in core else 0.5):
                level = min(apex * base * (0.8 + 0.4 * jitter), 1.0)
                cap = caps.get(au, 1.0)
                left[k] = min(level * (0.9 + 0.2 * asym), cap)
                right[k] = min(level * (1.1 - 0.2 * asym), cap)
                if code in UNILATERAL_RIGHT:
                    right[k], left[k] = max(left[k], right[k]), 0.0
        elif extra < 0.08:
            left[k] = right[k] = 0.05 + 0.2 * extra_level
    return tuple(left.tolist()), tuple(right.tolist()), code


def sequence(params: FaceParams, n_frames: int) -> list[FaceParams]:
    """Neutral-to-apex frames of an expression, like a CK+ sequence.

    Frame ``j`` has every AU at ``s_j = (j / (n_frames - 1)) ** 2`` of its apex intensity
    (ease-in: slow onset, fast approach to the apex); identity, nuisance and the emotion label
    are those of ``params`` (CK+ labels whole sequences by their apex).
    """
    if isinstance(n_frames, bool) or int(n_frames) != n_frames or n_frames < 2:
        raise ValueError(f"n_frames must be an integer >= 2, got {n_frames!r}")
    left, right = np.asarray(params.au_left, float), np.asarray(params.au_right, float)
    frames = []
    for j in range(int(n_frames)):
        s = (j / (n_frames - 1)) ** 2
        frames.append(replace(params, au_left=tuple((s * left).tolist()), au_right=tuple((s * right).tolist())))
    return frames


def au_regions(au: int) -> tuple[str, ...]:
    """Anatomical regions AU ``au`` may change (names from :data:`facexai.regions.REGIONS`)."""
    if au not in AU_INFO:
        raise ValueError(f"AU{au} is not modelled; modelled AUs: {AUS}")
    return AU_INFO[au].regions
