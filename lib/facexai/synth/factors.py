"""Generator factors of a SynthFace image: identity, expression (Action Units) and nuisance.

Every random draw comes from a counter-based generator keyed on ``(seed, key, stream)``
(:func:`rng_for`), so image ``i`` of a dataset with seed ``s`` is the same whatever else is
generated, datasets can be made in parallel, and any single face can be regenerated alone.
Identity, expression and nuisance use separate streams: changing how expressions are drawn
never changes who the person is.

All continuous "shape" factors are on a common scale of about [-1, 1] (0 = average face);
their meaning is documented on :class:`Identity`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

#: FACS Action Units the generator can animate, in this fixed order (array index = position).
AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 25, 26)

#: CK+ emotion codes (the code of each class is its position).
EMOTIONS: tuple[str, ...] = (
    "neutral", "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise",
)

#: Random streams (third word of the generator key).
STREAM_IDENTITY, STREAM_EXPRESSION, STREAM_NUISANCE, STREAM_RATERS, STREAM_PROXIES = 0, 1, 2, 3, 4


def rng_for(seed: int, key: int, stream: int) -> np.random.Generator:
    """Counter-based generator (Philox) for one ``(seed, key, stream)`` triple."""
    if seed < 0 or key < 0:
        raise ValueError(f"seed and key must be non-negative, got seed={seed}, key={key}")
    return np.random.Generator(np.random.Philox(np.random.SeedSequence([seed, key, stream])))


@dataclass(frozen=True)
class Identity:
    """Who the person is: factors that stay fixed across a subject's images.

    Attributes
    ----------
    age : float
        Years, 18-80. Drives wrinkles, nasolabial folds, greying, skin sag.
    sex : int
        0 female, 1 male (the coding of the 10k US Adult Faces demographic labels).
    masculinity : float
        0-1, correlated with ``sex``; drives jaw width, brow thickness, brow ridge.
    face_width, face_length, jaw_width : float
        About -1..1, 0 = average.
    eye_size, eye_spacing, nose_length, nose_width, lip_fullness : float
        About -1..1, 0 = average.
    brow_thickness : float
        0-1.
    skin_tone : float
        0 (light) - 1 (dark).
    hair_length : float
        0 (cropped) - 1 (long, past the jaw).
    hair_style : int
        0 swept back, 1 side parting, 2 fringe (covers part of the forehead).
    hair_color : float
        0 (blond) - 1 (black); greying with age is applied on top when rendering.
    glasses : bool
    stubble : float
        0-1 (0 for most women).
    asymmetry : float
        0-1, magnitude of left/right differences.
    asym_pattern : tuple of float
        Six numbers in -1..1 saying *which* parts are asymmetric (eye height, brow height,
        mouth corner height, nose tip offset, eye size, jaw), scaled by ``asymmetry``.
    """

    age: float = 35.0
    sex: int = 0
    masculinity: float = 0.3
    face_width: float = 0.0
    face_length: float = 0.0
    jaw_width: float = 0.0
    eye_size: float = 0.0
    eye_spacing: float = 0.0
    nose_length: float = 0.0
    nose_width: float = 0.0
    lip_fullness: float = 0.0
    brow_thickness: float = 0.4
    skin_tone: float = 0.3
    hair_length: float = 0.5
    hair_style: int = 0
    hair_color: float = 0.5
    glasses: bool = False
    stubble: float = 0.0
    asymmetry: float = 0.0
    asym_pattern: tuple[float, ...] = (0.0,) * 6


@dataclass(frozen=True)
class Nuisance:
    """Image-level nuisance of one rendering (not a property of the person)."""

    roll: float = 0.0          # in-plane rotation, degrees
    yaw: float = 0.0           # -1..1, fake out-of-plane turn (inner features shift sideways)
    scale: float = 1.0         # face size relative to the canonical framing
    shift_x: float = 0.0       # fraction of the image width
    shift_y: float = 0.0       # fraction of the image height
    light_angle: float = 0.0   # direction of the illumination gradient, radians
    light_strength: float = 0.0  # 0 = flat light, 1 = strong gradient
    background: tuple[float, float, float] = (0.55, 0.57, 0.6)  # RGB in 0..1
    noise: float = 0.0         # sensor noise std in 0..1 intensity units
    blur: float = 0.0          # Gaussian blur sigma in pixels at 96 px (scaled with size)


@dataclass(frozen=True)
class NuisanceConfig:
    """One knob per nuisance factor: the largest amplitude drawn. Mild by default."""

    roll: float = 4.0
    yaw: float = 0.15
    scale: float = 0.05
    shift: float = 0.03
    light: float = 0.25
    background: float = 0.15
    noise: float = 0.015
    blur: float = 0.4

    @classmethod
    def none(cls) -> "NuisanceConfig":
        """No nuisance at all: canonical pose, flat light, clean plain background."""
        return cls(**{f.name: 0.0 for f in fields(cls)})


@dataclass(frozen=True)
class FaceParams:
    """Everything needed to render one face, deterministically."""

    identity: Identity = field(default_factory=Identity)
    au_left: tuple[float, ...] = (0.0,) * len(AUS)   # intensities 0..1, subject's left side
    au_right: tuple[float, ...] = (0.0,) * len(AUS)  # intensities 0..1, subject's right side
    emotion: int = 0                                 # CK+ code of the prototype used (0 neutral)
    nuisance: Nuisance = field(default_factory=Nuisance)

    @property
    def au(self) -> np.ndarray:
        """AU intensity per AU (the larger of the two sides): the AU *label* of the image."""
        return np.maximum(np.asarray(self.au_left), np.asarray(self.au_right))

    def with_aus(self, **intensities: float) -> "FaceParams":
        """Copy with AUs set on both sides, e.g. ``p.with_aus(AU12=1.0, AU6=0.5)``."""
        left, right = list(self.au_left), list(self.au_right)
        for name, value in intensities.items():
            k = AUS.index(int(name.removeprefix("AU")))
            left[k] = right[k] = float(value)
        return replace(self, au_left=tuple(left), au_right=tuple(right))

    def neutral(self) -> "FaceParams":
        """Copy with every AU off (same person, same nuisance)."""
        zero = (0.0,) * len(AUS)
        return replace(self, au_left=zero, au_right=zero, emotion=0)


def _clip(x: float, lo: float, hi: float) -> float:
    return float(min(max(x, lo), hi))


def sample_identity(seed: int, subject: int, proxies: float = 1.0) -> Identity:
    """Draw the identity of subject ``subject`` of a dataset with seed ``seed``.

    ``proxies`` is how strongly the sex proxies that are not anatomy --- hair length and stubble
    --- follow sex: 1 (the default) as in a realistic population (long hair mostly on women,
    stubble only on men); below 1, for a share ``1 - proxies`` of the subjects (chosen by a stream
    of their own) both are drawn again for a sex drawn independently, so at 0 they carry no
    information on sex. Every other factor of a subject is the same at any ``proxies``.
    """
    if not 0.0 <= proxies <= 1.0:
        raise ValueError(f"proxies must lie in [0, 1], got {proxies!r}")
    rng = rng_for(seed, subject, STREAM_IDENTITY)
    sex = int(rng.random() < 0.5)
    masc = _clip(rng.beta(5, 2) if sex else rng.beta(2, 5), 0.0, 1.0)
    age = float(18 + 62 * rng.beta(1.3, 2.0))

    def z(scale: float = 0.45) -> float:
        return _clip(rng.normal(0.0, scale), -1.0, 1.0)

    jaw = _clip(0.8 * (masc - 0.5) + z(0.35), -1.0, 1.0)
    brow = _clip(0.25 + 0.5 * masc + rng.normal(0, 0.12), 0.0, 1.0)
    hair_len = _clip(rng.beta(2, 5) if sex else rng.beta(4, 2), 0.0, 1.0)
    stubble = _clip(rng.beta(1.2, 2.5), 0.0, 1.0) if (sex and rng.random() < 0.45) else 0.0
    if proxies < 1.0:
        other = rng_for(seed, subject, STREAM_PROXIES)
        if other.random() >= proxies:
            psex = int(other.random() < 0.5)
            hair_len = _clip(other.beta(2, 5) if psex else other.beta(4, 2), 0.0, 1.0)
            stubble = (_clip(other.beta(1.2, 2.5), 0.0, 1.0) if (psex and other.random() < 0.45)
                       else 0.0)
    return Identity(
        age=age, sex=sex, masculinity=masc,
        face_width=z(), face_length=z(), jaw_width=jaw,
        eye_size=z(), eye_spacing=z(0.35), nose_length=z(), nose_width=z(), lip_fullness=z(),
        brow_thickness=brow, skin_tone=float(rng.beta(1.6, 2.2)),
        hair_length=hair_len, hair_style=int(rng.integers(0, 3)), hair_color=float(rng.random()),
        glasses=bool(rng.random() < 0.2), stubble=stubble,
        asymmetry=float(rng.beta(1.5, 5.0)),
        asym_pattern=tuple(float(v) for v in rng.uniform(-1, 1, 6)),
    )


def sample_nuisance(seed: int, index: int, config: NuisanceConfig = NuisanceConfig()) -> Nuisance:
    """Draw the nuisance of image ``index``; every amplitude is bounded by ``config``."""
    rng = rng_for(seed, index, STREAM_NUISANCE)
    u = lambda: float(rng.uniform(-1.0, 1.0))  # noqa: E731 - tiny local helper
    base = np.array([0.55, 0.57, 0.60]) + config.background * rng.uniform(-1, 1, 3)
    return Nuisance(
        roll=config.roll * u(), yaw=config.yaw * u(),
        scale=1.0 + config.scale * u(), shift_x=config.shift * u(), shift_y=config.shift * u(),
        light_angle=float(rng.uniform(0, 2 * np.pi)), light_strength=config.light * float(rng.random()),
        background=tuple(float(v) for v in np.clip(base, 0.0, 1.0)),
        noise=config.noise * float(rng.random()), blur=config.blur * float(rng.random()),
    )


def identity_table(identities):
    """One row per identity (or :class:`FaceParams`), one column per scalar identity factor
    (``glasses`` as 0/1; ``asym_pattern`` left out)."""
    import pandas as pd

    rows = [getattr(i, "identity", i) for i in identities]
    return pd.DataFrame([{k: float(v) for k, v in vars(i).items() if k != "asym_pattern"}
                         for i in rows])


def factor_correlations(identities):
    """Pearson correlations between the identity factors of ``identities`` (the correlations a
    twin builds in, for the Data page); a constant factor gives NaN."""
    return identity_table(identities).corr()
