"""SynthFace: synthetic faces whose causes are known.

========================  =====================================================================
module                    what it holds
========================  =====================================================================
:mod:`.factors`           the data model (identity, Action Units, nuisance) and per-image RNGs
:mod:`.aus`               Action Unit metadata, EMFACS emotion prototypes, expression sampling
:mod:`.landmarks`         the 68 iBUG landmarks from the factors
:mod:`.render`            anti-aliased rendering at 48-256 px
:mod:`.generate`          sampling whole faces, AU pixel masks, batch rendering
:mod:`.attributes`        the 40 psychological attributes and the simulated rater panels
:mod:`.dataset`           a rendered, rated population cached on disk
========================  =====================================================================
"""
