"""SynthFace: synthetic faces whose causes are known.

========================  =====================================================================
module                    what it holds
========================  =====================================================================
:mod:`.factors`           the data model (identity, Action Units, nuisance) and per-image RNGs
:mod:`.aus`               Action Unit metadata, EMFACS emotion prototypes, expression sampling
:mod:`.landmarks`         the 68 iBUG landmarks from the factors
:mod:`.render`            anti-aliased rendering at 48-256 px
:mod:`.generate`          sampling whole faces, AU pixel masks, batch rendering
:mod:`.pairs`             the attribute pair table: columns, generator factors, literature drivers
:mod:`.attributes`        the 40 attributes as the study uses them: drivers, regions, rating, labels
:mod:`.rating`            the rating model, simulated rater panels, its calibration
:mod:`.ceilings`          noise ceiling vs achievable (oracle) ceiling; twin vs real correlations
:mod:`.counterfactual`    the same face with one cause changed, every random draw kept
:mod:`.truth`             derived ground truth: factor masks, attribute truth maps
:mod:`.dataset`           a rendered, rated population cached on disk
========================  =====================================================================
"""
