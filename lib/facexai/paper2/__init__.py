"""Paper 2 (Khorrami et al. 2015): do expression CNNs learn Facial Action Units?

No notebook of this paper exists yet. :mod:`.results` names the results its notebooks will record
and :mod:`.claims` registers the paper's claims (:mod:`facexai.claims`), which are "not tested"
until those results are recorded.
"""
from __future__ import annotations

from . import claims, results  # noqa: F401  (importing claims registers them)
