"""Adaptive model selection at inference (Taylor et al., 2018): pick a CNN per image.

features    cheap image features in [0, 1] (brightness, contrast, hue, edges, ...)
premodel    the scikit-learn classifier that picks the model, its labels and CV
knn_chain   Taylor et al.'s premodel: a chain of k-NN "is this model enough?" classifiers
cascade     cheapest model first, escalate when unsure; threshold choice
routing     the policies as they run: single model, premodel, cascade, oracle
experiment  one dataset's setup (train, hold out, fit), timing and recording
verdict     does routing beat the best single model here? (from saved figures)

The names below are the variants of `benches/bench_adaptive_selection.py`
besides the single models; they live here, light, so that the report can read
saved runs without importing torch.
"""

from visionbench.measure import techniques

TECHNIQUE = techniques.SELECTION.name
PREMODEL = "premodel"  # features, the premodel's pick, only the picked model per image
CASCADE = "cascade"  # cheapest model first, escalate the images it is unsure of
(ORACLE,) = techniques.SELECTION.bounds  # the cheapest right model per image, known for
#   free: the bound (the registry says so)
KNN_CHAIN = "premodel_knn_chain"  # Taylor et al.'s premodel: one "enough?" k-NN per model
ROUTED = (PREMODEL, KNN_CHAIN, CASCADE, ORACLE)
FEATURES_ONLY = "features"  # overhead: the features of the timed batch
PREMODEL_ONLY = "features+premodel"  # overhead: features and the premodel's picks
