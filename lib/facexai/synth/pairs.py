"""The pair table of SynthFace's psychological attributes: columns, generator factors, drivers.

The 10k US Adult Faces database (Bainbridge, Isola & Oliva 2013) has 20 bipolar attribute pairs
(40 columns). :data:`PAIR_TABLE` is the single source of truth of the study's model of them: for
each pair, the latent score as a linear function of **generator factors** (identity fields, Action
Units and two derived factors, all standardised; :data:`FACTORS`, :func:`factor_vector`), with a
one-line rationale from the face-perception literature (or marked as an assumption), the mean
rating and target reliability of each of its two columns, and where each factor shows
(:data:`FACTOR_REGIONS`). The rating model (:mod:`facexai.synth.rating`) and the views of
:mod:`facexai.synth.attributes` are built on it.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .factors import AUS, FaceParams

# --------------------------------------------------------------------------------------------
# Columns and pairs
# --------------------------------------------------------------------------------------------

#: The 40 columns of the "Final Values" sheet, in the database's order.
ATTRIBUTE_COLUMNS: tuple[str, ...] = (
    "atypical", "boring", "calm", "cold", "common", "confident", "egotistic", "emotUnstable",
    "forgettable", "intelligent", "introverted", "kind", "responsible", "trustworthy",
    "unattractive", "unemotional", "unfamiliar", "unfriendly", "unhappy", "weird",
    "aggressive", "attractive", "caring", "emotStable", "emotional", "familiar", "friendly",
    "happy", "humble", "interesting", "irresponsible", "mean", "memorable", "normal", "sociable",
    "typical", "uncertain", "uncommon", "unintelligent", "untrustworthy",
)

# Mirrors facexai.regions.REGIONS (subject's sides). Not imported: the renderer owns that module
# and this one must work without it; a test checks every name used here is one of these.
_REGION_NAMES: tuple[str, ...] = (
    "background", "hair", "forehead", "right_brow", "left_brow", "right_eye", "left_eye", "nose",
    "mouth", "right_cheek", "left_cheek", "chin_jaw",
)
_BROWS, _EYES = ("right_brow", "left_brow"), ("right_eye", "left_eye")
_CHEEKS = ("right_cheek", "left_cheek")


def _regions(*names: str | tuple[str, ...]) -> tuple[str, ...]:
    """Flatten, deduplicate and put region names in the canonical order."""
    flat = {n for item in names for n in ((item,) if isinstance(item, str) else item)}
    unknown = flat - set(_REGION_NAMES)
    if unknown:
        raise ValueError(f"unknown region(s) {sorted(unknown)}; known: {_REGION_NAMES}")
    return tuple(r for r in _REGION_NAMES if r in flat)


# --------------------------------------------------------------------------------------------
# Factors
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Factor:
    """One generator factor as the raters see it: ``(value - center) / scale``, and where it shows."""

    name: str
    center: float
    scale: float
    regions: tuple[str, ...]
    doc: str


# Shape fields whose distance from the average face is "distinctiveness", with their population
# SDs (factors.sample_identity). Inside distinctiveness the jaw is measured relative to the
# sex-typical jaw, because the sampler widens jaws with masculinity and a wide jaw on a masculine
# face is typical, not distinctive.
_SHAPE_SD = {"face_width": 0.44, "face_length": 0.44, "jaw_width": 0.40, "eye_size": 0.44,
             "eye_spacing": 0.35, "nose_length": 0.44, "nose_width": 0.44, "lip_fullness": 0.44}
_JAW_PER_MASCULINITY = 0.8  # sample_identity: jaw = 0.8 (masculinity - 0.5) + N(0, 0.35)
_JAW_RESIDUAL_SD = 0.35

# Identity factors are standardised with the population moments of factors.sample_identity (a test
# checks them), so weights are comparable across factors. AUs are *not* standardised against a
# population, because the expression mix is a dataset choice: 0 = neutral and one unit = 0.3
# intensity, about the SD of one AU over a CK+-like mix of prototypes.
_AU_UNIT = 0.3
_AU_REGIONS = {  # FACS anatomy, subject's sides
    1: ("forehead", _BROWS), 2: ("forehead", _BROWS), 4: (_BROWS, "forehead"),
    5: (_EYES,), 6: (_EYES, _CHEEKS), 7: (_EYES,), 9: ("nose",), 10: ("mouth", "nose"),
    12: ("mouth", _CHEEKS), 14: ("mouth", _CHEEKS), 15: ("mouth",), 17: ("mouth", "chin_jaw"),
    20: ("mouth", _CHEEKS), 23: ("mouth",), 25: ("mouth",), 26: ("mouth", "chin_jaw"),
}
_AU_NAMES = {1: "inner brow raiser", 2: "outer brow raiser", 4: "brow lowerer", 5: "upper lid raiser",
             6: "cheek raiser", 7: "lid tightener", 9: "nose wrinkler", 10: "upper lip raiser",
             12: "lip corner puller", 14: "dimpler", 15: "lip corner depressor", 17: "chin raiser",
             20: "lip stretcher", 23: "lip tightener", 25: "lips part", 26: "jaw drop"}

_SHAPE_REGIONS = {
    "face_width": (_CHEEKS, "chin_jaw"), "face_length": ("forehead", "chin_jaw"),
    "jaw_width": ("chin_jaw",), "eye_size": (_EYES,), "eye_spacing": (_EYES, "nose"),
    "nose_length": ("nose",), "nose_width": ("nose",), "lip_fullness": ("mouth",),
}

#: Every factor the rating model can use, in the column order of :func:`factor_vector`.
FACTORS: tuple[Factor, ...] = (
    Factor("age", 42.6, 14.6, _regions("forehead", _EYES, _CHEEKS, "hair"),
           "years; wrinkles, crow's feet, nasolabial folds, sag, greying"),
    Factor("masculinity", 0.5, 0.27, _regions(_BROWS, "forehead", "chin_jaw"),
           "0-1; brow thickness, brow ridge, jaw"),
    *(Factor(name, 0.0, sd, _regions(*_SHAPE_REGIONS[name]), "shape, about -1..1, 0 = average")
      for name, sd in _SHAPE_SD.items()),
    Factor("brow_thickness", 0.5, 0.18, _regions(_BROWS), "0-1"),
    Factor("skin_tone", 0.42, 0.225, _regions("forehead", "nose", _CHEEKS, "chin_jaw"),
           "0 light - 1 dark; drives no attribute on purpose (a null factor)"),
    Factor("hair_length", 0.48, 0.25, _regions("hair"), "0 cropped - 1 long"),
    Factor("hair_color", 0.5, 0.29, _regions("hair"),
           "0 blond - 1 black; drives no attribute (null)"),
    Factor("glasses", 0.2, 0.4, _regions(_EYES, "nose"), "0/1"),
    Factor("stubble", 0.07, 0.17, _regions("mouth", _CHEEKS, "chin_jaw"), "0-1"),
    Factor("asymmetry", 0.23, 0.15, _regions(_BROWS, _EYES, "nose", "mouth", "chin_jaw"),
           "0-1 magnitude of left/right differences (eye, brow, mouth corner, nose tip, jaw)"),
    Factor("distinctiveness", 0.97, 0.23, _regions(*(r for v in _SHAPE_REGIONS.values() for r in v)),
           "RMS distance of the standardised shape fields from the average face (derived)"),
    Factor("expressiveness", 0.0, 1.0, _regions(*(r for v in _AU_REGIONS.values() for r in v)),
           "sum of AU intensities: overall facial activity (derived; 0 = neutral)"),
    *(Factor(f"AU{au}", 0.0, _AU_UNIT, _regions(*_AU_REGIONS[au]), _AU_NAMES[au]) for au in AUS),
)

#: Factor names, in the column order of :func:`factor_vector`.
FACTOR_NAMES: tuple[str, ...] = tuple(f.name for f in FACTORS)
#: Face regions in which each factor shows (region names of ``facexai.regions.REGIONS``).
FACTOR_REGIONS: dict[str, tuple[str, ...]] = {f.name: f.regions for f in FACTORS}


def _raw_factors(p: FaceParams) -> list[float]:
    """Unstandardised factor values of one face, in FACTOR_NAMES order."""
    ident = p.identity
    shape = [getattr(ident, n) / sd for n, sd in _SHAPE_SD.items() if n != "jaw_width"]
    typical_jaw = _JAW_PER_MASCULINITY * (ident.masculinity - 0.5)
    shape.append((ident.jaw_width - typical_jaw) / _JAW_RESIDUAL_SD)
    au = p.au
    values = {"distinctiveness": float(np.sqrt(np.mean(np.square(shape)))),
              "expressiveness": float(au.sum()),
              **{f"AU{a}": float(v) for a, v in zip(AUS, au)}}
    return [values[f.name] if f.name in values else float(getattr(ident, f.name)) for f in FACTORS]


_CENTER = np.array([f.center for f in FACTORS])
_SCALE = np.array([f.scale for f in FACTORS])


def factor_vector(params_list: Sequence[FaceParams]) -> np.ndarray:
    """Standardised factor values, shape ``(N, len(FACTORS))``, columns in :data:`FACTOR_NAMES` order.

    Standardisation uses the fixed constants of :data:`FACTORS`, never batch statistics, so a
    face's vector does not depend on the other faces in the batch.
    """
    raw = np.array([_raw_factors(p) for p in params_list], dtype=float).reshape(-1, len(FACTORS))
    return (raw - _CENTER) / _SCALE


# --------------------------------------------------------------------------------------------
# The pair table (single source of truth)
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pair:
    """One bipolar pair: its latent score as a linear function of factors, and its two columns.

    Attributes
    ----------
    attribute, antonym : str
        Column names; the latent score rises with ``attribute`` and falls with ``antonym``.
    drivers : tuple of (factor name, weight)
        Weights on standardised factors (:data:`FACTORS`).
    rationale : str
        Why these drivers, with a citation or marked as an assumption.
    center : (float, float)
        Mean rating of an average neutral face, (attribute, antonym).
    reliability : (float, float)
        Target split-half reliability of a 15-rater mean, (attribute, antonym): Paper 3's
        "Human" column.
    """

    attribute: str
    antonym: str
    drivers: tuple[tuple[str, float], ...]
    rationale: str
    center: tuple[float, float]
    reliability: tuple[float, float]


def _p(attribute, antonym, drivers, rationale, center, reliability) -> Pair:
    return Pair(attribute, antonym, tuple(drivers.items()), rationale, center, reliability)


#: The 20 pairs, in the order of papers.md.
PAIR_TABLE: tuple[Pair, ...] = (
    _p("attractive", "unattractive",
       {"age": -0.40, "asymmetry": -0.35, "distinctiveness": -0.30, "eye_size": 0.30, "AU12": 0.25},
       "Youth, symmetry and averageness raise attractiveness (Langlois & Roggman 1990; Rhodes 2006), "
       "so do large eyes and a smile.", (4.5, 4.3), (0.72, 0.62)),
    _p("happy", "unhappy", {"AU12": 0.65, "AU6": 0.35, "AU15": -0.30, "AU1": -0.15},
       "Happiness is the Duchenne smile (AU6+AU12); sadness pulls the lip corners down and raises "
       "the inner brow (AU15, AU1; FACS, Ekman & Friesen 1978).", (4.6, 3.9), (0.84, 0.75)),
    _p("friendly", "unfriendly",
       {"AU12": 0.55, "AU6": 0.20, "AU4": -0.30, "AU23": -0.20, "masculinity": -0.15},
       "Approachability (the valence dimension of Oosterhof & Todorov 2008) is read from smiles, "
       "and lost with anger cues (AU4, AU23); feminine faces look friendlier.",
       (5.0, 3.8), (0.78, 0.72)),
    _p("sociable", "introverted",
       {"AU12": 0.45, "AU25": 0.25, "AU6": 0.20, "eye_size": 0.15, "age": -0.15},
       "Extraversion is judged from smiling, animated, open-mouthed faces (Borkenau et al. 2009); "
       "youthful large-eyed faces look outgoing (assumption).", (5.0, 4.4), (0.74, 0.50)),
    _p("kind", "mean", {"AU12": 0.45, "AU4": -0.30, "AU10": -0.20, "masculinity": -0.15},
       "Warmth overgeneralises from emotion (Montepare & Dobish 2003): smiles read kind, frowns "
       "(AU4) and sneers (AU10) read mean.", (5.2, 3.7), (0.72, 0.69)),
    _p("caring", "cold",
       {"AU12": 0.35, "AU1": 0.20, "AU6": 0.20, "AU14": -0.30, "masculinity": -0.20},
       "Concern shows as the inner-brow raise (AU1) and warmth as a smile; the contempt dimple "
       "(AU14, Ekman & Friesen 1986) reads cold.", (5.0, 4.0), (0.72, 0.71)),
    _p("trustworthy", "untrustworthy",
       {"AU12": 0.40, "AU2": 0.15, "AU4": -0.30, "AU15": -0.20, "masculinity": -0.15},
       "Trustworthiness is the valence dimension (Oosterhof & Todorov 2008): raised brows and mouth "
       "corners vs lowered brows and corners; feminine faces are trusted more.",
       (5.1, 3.9), (0.62, 0.60)),
    _p("responsible", "irresponsible", {"age": 0.35, "glasses": 0.30, "stubble": -0.20},
       "Assumption: maturity (age) and glasses (Thornton 1944) read as conscientious, stubble as "
       "less groomed.", (5.4, 3.6), (0.58, 0.55)),
    _p("confident", "uncertain",
       {"masculinity": 0.30, "jaw_width": 0.20, "AU12": 0.20, "AU1": -0.25, "AU20": -0.25},
       "Dominance (Oosterhof & Todorov 2008: masculine, wide-jawed faces) without fear or worry "
       "cues (AU20, AU1), which lower perceived dominance (Knutson 1996).",
       (5.3, 4.0), (0.55, 0.45)),
    _p("humble", "egotistic", {"AU14": -0.40, "masculinity": -0.25, "jaw_width": -0.15, "AU12": 0.15},
       "Assumption: a smirk (AU14, the contempt dimple) reads arrogant and dominance cues "
       "(masculinity, wide jaw) self-assured.", (4.9, 4.1), (0.55, 0.52)),
    _p("emotStable", "emotUnstable",
       {"expressiveness": -0.25, "AU20": -0.25, "AU1": -0.20, "AU4": -0.20, "age": 0.20},
       "Assumption: instability is read from negative-affect cues (fear AU20, worry AU1, frown AU4) "
       "and agitation; mature faces look steadier.", (5.5, 3.7), (0.53, 0.50)),
    _p("normal", "weird", {"distinctiveness": -0.45, "asymmetry": -0.30},
       "Faces near the average shape and symmetric look normal (Vokey & Read 1992; Rhodes 2006).",
       (6.0, 3.6), (0.49, 0.52)),
    _p("intelligent", "unintelligent", {"glasses": 0.45, "age": 0.15, "AU26": -0.20},
       "Glasses are a classic intelligence stereotype (Thornton 1944); a slack dropped jaw (AU26) "
       "reads dull (assumption).", (5.3, 3.42), (0.49, 0.43)),
    _p("interesting", "boring", {"distinctiveness": 0.30, "expressiveness": 0.25},
       "Assumption: distinctive and expressive faces hold attention.", (4.8, 4.5), (0.42, 0.39)),
    _p("calm", "aggressive",
       {"expressiveness": -0.35, "AU4": -0.35, "AU23": -0.30, "jaw_width": -0.25,
        "masculinity": -0.20, "face_width": -0.15},
       "Calm is little facial activity; threat is anger AUs (AU4, AU23) on a dominant masculine "
       "face (Oosterhof & Todorov 2008), wide faces look aggressive (Carré et al. 2009).",
       (5.4, 3.7), (0.41, 0.65)),
    _p("emotional", "unemotional", {"expressiveness": 0.70},
       "Emotionality is read from overall facial activity (total AU intensity).",
       (4.3, 4.8), (0.33, 0.56)),
    _p("memorable", "forgettable", {"distinctiveness": 0.35},
       "Distinctive faces are remembered better (Light et al. 1979; Vokey & Read 1992); people agree "
       "little on judged memorability (Bainbridge et al. 2013), so this attribute is weak.",
       (4.4, 4.8), (0.30, 0.27)),
    _p("typical", "atypical", {"distinctiveness": -0.40, "asymmetry": -0.10},
       "Typicality is closeness to the average face (Vokey & Read 1992); weak, like the real data.",
       (5.5, 4.0), (0.28, 0.24)),
    _p("common", "uncommon", {"distinctiveness": -0.30, "glasses": -0.10},
       "Assumption: like typicality (average faces look common), weaker; glasses mark a face out.",
       (5.3, 4.2), (0.25, 0.27)),
    _p("familiar", "unfamiliar", {"distinctiveness": -0.20, "AU12": 0.20},
       "Typical faces feel familiar (Vokey & Read 1992) and a smile is a cue to familiarity "
       "(Baudouin et al. 2000); the weakest attribute, as in the real data.",
       (4.5, 5.0), (0.24, 0.18)),
)

#: The 20 (attribute, antonym) pairs.
PAIRS: tuple[tuple[str, str], ...] = tuple((p.attribute, p.antonym) for p in PAIR_TABLE)

#: Position of each column in :data:`ATTRIBUTE_COLUMNS`.
COLUMN_INDEX = {c: k for k, c in enumerate(ATTRIBUTE_COLUMNS)}
_PAIR_OF = {c: (pair, sign) for pair in PAIR_TABLE
            for c, sign in ((pair.attribute, 1.0), (pair.antonym, -1.0))}
assert sorted(_PAIR_OF) == sorted(ATTRIBUTE_COLUMNS), "every column must belong to exactly one pair"


def pair_of(attribute: str) -> tuple[Pair, float]:
    """The pair of a column and its sign (+1 the attribute, -1 the antonym); an unknown name is a
    KeyError suggesting close ones."""
    if attribute not in COLUMN_INDEX:
        close = difflib.get_close_matches(attribute, ATTRIBUTE_COLUMNS, n=3)
        raise KeyError(f"unknown attribute {attribute!r}" + (f"; did you mean {close}?" if close else
                                                               f"; known: {ATTRIBUTE_COLUMNS}"))
    return _PAIR_OF[attribute]


def antonym(attribute: str) -> str:
    """The other column of ``attribute``'s bipolar pair (``"attractive"`` -> ``"unattractive"``)."""
    for a, b in PAIRS:
        if attribute in (a, b):
            return b if attribute == a else a
    raise ValueError(f"unknown attribute {attribute!r}; the pairs are "
                     + ", ".join(f"{a}/{b}" for a, b in PAIRS))


def pair_name(attribute: str) -> str:
    """``"attribute/antonym"``, the name of a pair in the tables."""
    return f"{attribute}/{antonym(attribute)}"
