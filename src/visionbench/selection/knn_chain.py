"""Taylor et al.'s premodel as they built it: a chain of k-NN classifiers.

One binary k-NN per candidate model but the last, cheapest first, each trained
on the validation images' features to answer "is this model enough for this
image?" (the model classifies it correctly). An image goes to the first model
whose classifier says yes, else to the most capable (last) model. Beside the
single multiclass premodel (`premodel.Premodel`), whose one classifier learns
the cheapest-correct label directly, the chain asks each question on its own:
a model that is right on most images is not drowned by the cheaper ones.

k is chosen the way the premodel's classifier is: k-fold cross-validation on
the validation images, scored by what routing buys (`premodel.choose`: the
cheapest within `tolerance` of the best single model, else the most accurate).
It has the premodel's interface (`fit`, `predict`, `check`, `scores`, `chosen`),
so `routing.PremodelRouter` runs it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import KFold
from sklearn.neighbors import KNeighborsClassifier

from visionbench.profiles.budgets import SelectionBudget
from visionbench.selection.premodel import Choice, Premodel, PremodelError, choose, routed

KS = (1, 5, 15)  # neighbours tried by cross-validation


class _Chain:
    """Fitted k-NN 'enough?' classifiers for models 0..M-2 (a constant where a model's
    answer never varies on the training images)."""

    def __init__(self, k: int, x: np.ndarray, correct: np.ndarray) -> None:
        self.links: list[KNeighborsClassifier | bool] = []
        for j in range(correct.shape[1] - 1):
            y = correct[:, j]
            if y.all() or not y.any():
                self.links.append(bool(y[0]))
            else:
                self.links.append(KNeighborsClassifier(n_neighbors=min(k, len(x))).fit(x, y))
        self.last = correct.shape[1] - 1

    def predict(self, x: np.ndarray) -> np.ndarray:
        choice = np.full(len(x), self.last, dtype=np.int64)
        open_ = np.ones(len(x), dtype=bool)  # not yet routed
        for j, link in enumerate(self.links):
            if not open_.any():
                break
            enough = (
                np.full(open_.sum(), link) if isinstance(link, bool) else link.predict(x[open_])
            ).astype(bool)
            rows = np.flatnonzero(open_)[enough]
            choice[rows] = j
            open_[rows] = False
        return choice


class KnnChain(Premodel):
    """The chain of k-NN classifiers; the premodel's interface and checks."""

    def __init__(
        self,
        models: Sequence[str],
        features: Sequence[str],
        classes: Sequence[str],
        *,
        folds: int = SelectionBudget.cv_folds,  # the profiles' defaults, written once there
        tolerance: float = SelectionBudget.tolerance,
        ks: Sequence[int] = KS,
        seed: int = 0,
    ) -> None:
        super().__init__(models, features, classes, folds=folds, tolerance=tolerance, seed=seed)
        if not ks or min(ks) < 1:
            raise ValueError(f"a k-NN chain needs neighbour counts >= 1, got {list(ks)}")
        self.ks = tuple(ks)

    def __repr__(self) -> str:
        state = self.chosen.name if self.chosen else "untrained"
        return f"KnnChain({state}, models={list(self.models)})"

    def fit(self, features: np.ndarray, correct: np.ndarray, costs: Sequence[float]) -> KnnChain:
        x, correct = self._check_training(features, correct, costs)
        folds = min(self.folds, len(x))
        if folds < 2:
            raise PremodelError(f"cross-validation needs at least 2 images, got {len(x)}")
        splits = list(KFold(folds, shuffle=True, random_state=self.seed).split(x))
        self.scores = []
        for k in self.ks:
            pick = np.empty(len(x), dtype=np.int64)
            for train, held in splits:
                pick[held] = _Chain(k, x[train], correct[train]).predict(x[held])
            self.scores.append(Choice(f"knn_chain{k}", *routed(correct, pick, costs)))
        self.chosen = choose(self.scores, float(correct.mean(axis=0).max()), self.tolerance)
        k = self.ks[[s.name for s in self.scores].index(self.chosen.name)]
        self._clf = _Chain(k, x, correct)
        return self
