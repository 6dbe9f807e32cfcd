"""The premodel: a small scikit-learn classifier that picks a CNN per image.

Labels follow Taylor et al.: for each image, the cheapest candidate model that
classifies it correctly. An image that no candidate gets right is labelled with
the most capable (last) model: nothing cheaper helps it, and the most capable
model is the best bet for images like it.

Which classifier (k-NN, decision tree, SVM, each at a few settings) is chosen
by k-fold cross-validation on the validation images (held out from the CNNs'
training data; never the test split), scored by what routing buys, not by label
accuracy: the routed accuracy (the picked model is right) and the mean cost of
the picked models. The rule, the same as the cascade's: the cheapest classifier
whose routed accuracy is within `tolerance` of the best single model's;
if none is, the one with the best routed accuracy (ties: the cheaper).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from visionbench.profiles.budgets import SelectionBudget

#: The classifiers cross-validation chooses from, by name.
CLASSIFIERS: dict[str, Callable[[int], object]] = {
    "knn1": lambda seed: KNeighborsClassifier(n_neighbors=1),
    "knn5": lambda seed: KNeighborsClassifier(n_neighbors=5),
    "knn15": lambda seed: KNeighborsClassifier(n_neighbors=15),
    "tree3": lambda seed: DecisionTreeClassifier(max_depth=3, random_state=seed),
    "tree6": lambda seed: DecisionTreeClassifier(max_depth=6, random_state=seed),
    "tree6_balanced": lambda seed: DecisionTreeClassifier(
        max_depth=6, class_weight="balanced", random_state=seed
    ),
    "svm": lambda seed: SVC(kernel="rbf", C=1.0, gamma="scale", random_state=seed),
    "svm10": lambda seed: SVC(kernel="rbf", C=10.0, gamma="scale", random_state=seed),
    "svm_balanced": lambda seed: SVC(
        kernel="rbf", C=1.0, gamma="scale", class_weight="balanced", random_state=seed
    ),
}
# Most images are usually labelled with the cheapest model, so plain classifiers
# tend to send everything there; the "balanced" ones weigh the rarer labels up
# and send more images to the costlier models (more accurate, less saving).


class PremodelError(RuntimeError):
    """A premodel used before training, or with models, features or classes it
    was not trained for."""


def cheapest_correct(correct: np.ndarray) -> np.ndarray:
    """Labels from an N x M boolean matrix (rows: images; columns: models,
    cheapest first): the first model that is right, or the last if none is."""
    correct = np.asarray(correct, dtype=bool)
    if correct.ndim != 2 or correct.shape[1] == 0:
        raise ValueError(f"correct must be N x M with M >= 1, got shape {correct.shape}")
    return np.where(correct.any(axis=1), correct.argmax(axis=1), correct.shape[1] - 1)


def routed(correct: np.ndarray, choice: np.ndarray, costs: Sequence[float]) -> tuple[float, float]:
    """(accuracy, mean cost per image) of sending image i to model choice[i]."""
    choice = np.asarray(choice)
    hit = np.asarray(correct, dtype=bool)[np.arange(len(choice)), choice]
    return float(hit.mean()), float(np.asarray(costs, dtype=float)[choice].mean())


class _Constant:
    """Predicts its one label: the stand-in when the training labels have one value."""

    def __init__(self, label: int) -> None:
        self.label = label

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), self.label, dtype=np.int64)


def _fit(name: str, x: np.ndarray, y: np.ndarray, seed: int):
    if len(np.unique(y)) == 1:
        return _Constant(int(y[0]))
    clf = CLASSIFIERS[name](seed)
    if isinstance(clf, KNeighborsClassifier) and clf.n_neighbors > len(x):
        clf.set_params(n_neighbors=len(x))  # fewer images than neighbours: all (as the chain)
    return clf.fit(x, y)


@dataclass(frozen=True)
class Choice:
    """One classifier's cross-validated routing on the validation images."""

    name: str
    accuracy: float  # share of validation images whose picked model is right
    cost: float  # mean cost of the picked models per image (the costs' unit)


def choose(scores: Sequence[Choice], best_single: float, tolerance: float) -> Choice:
    """The cheapest within `tolerance` of `best_single`; else the most accurate."""
    good = [s for s in scores if s.accuracy >= best_single - tolerance]
    if good:
        return min(good, key=lambda s: (s.cost, -s.accuracy))
    return min(scores, key=lambda s: (-s.accuracy, s.cost))


class Premodel:
    """Picks, per image, the index of a candidate model from its features.

    It knows what it was trained for (model names cheapest first, feature
    names, the data's classes) and refuses anything else with PremodelError.
    """

    def __init__(
        self,
        models: Sequence[str],
        features: Sequence[str],
        classes: Sequence[str],
        *,
        folds: int = SelectionBudget.cv_folds,  # the profiles' defaults, written once there
        tolerance: float = SelectionBudget.tolerance,
        classifiers: Sequence[str] = tuple(CLASSIFIERS),
        seed: int = 0,
    ) -> None:
        unknown = [c for c in classifiers if c not in CLASSIFIERS]
        if unknown:
            raise ValueError(f"unknown classifiers {unknown}; known: {', '.join(CLASSIFIERS)}")
        if len(models) < 2:
            raise ValueError(f"a premodel chooses between at least 2 models, got {list(models)}")
        self.models = tuple(models)
        self.features = tuple(features)
        self.classes = tuple(classes)
        self.folds = folds
        self.tolerance = tolerance
        self.classifiers = tuple(classifiers)
        self.seed = seed
        self.scores: list[Choice] = []  # cross-validation, one per classifier
        self.chosen: Choice | None = None
        self._clf = None

    def __repr__(self) -> str:
        state = f"{self.chosen.name}" if self.chosen else "untrained"
        return f"Premodel({state}, models={list(self.models)})"

    def fit(self, features: np.ndarray, correct: np.ndarray, costs: Sequence[float]) -> Premodel:
        """Train on validation images: features N x F, correct N x M (model j
        right on image i), costs M (per image, cheapest first)."""
        x, correct = self._check_training(features, correct, costs)
        y = cheapest_correct(correct)
        counts = np.bincount(y)
        present = counts[counts > 0]
        folds = min(self.folds, len(x))
        if folds < 2:
            raise PremodelError(f"cross-validation needs at least 2 images, got {len(x)}")
        splitter = (
            StratifiedKFold(folds, shuffle=True, random_state=self.seed)
            if present.min() >= folds
            else KFold(folds, shuffle=True, random_state=self.seed)
        )
        splits = list(splitter.split(x, y))
        self.scores = []
        for name in self.classifiers:
            pick = np.empty(len(x), dtype=np.int64)
            for train, held in splits:
                pick[held] = _fit(name, x[train], y[train], self.seed).predict(x[held])
            self.scores.append(Choice(name, *routed(correct, pick, costs)))
        best_single = float(correct.mean(axis=0).max())
        self.chosen = choose(self.scores, best_single, self.tolerance)
        self._clf = _fit(self.chosen.name, x, y, self.seed)
        return self

    def check(self, models: Sequence[str], features: Sequence[str], classes: Sequence[str]) -> None:
        """Raise PremodelError unless trained, and for these models, features, classes."""
        if self._clf is None:
            raise PremodelError("the premodel is not trained; call fit() first")
        for what, mine, theirs in (
            ("models", self.models, tuple(models)),
            ("features", self.features, tuple(features)),
            ("classes", self.classes, tuple(classes)),
        ):
            if mine != theirs:
                raise PremodelError(
                    f"the premodel was trained for {what} {list(mine)}, not {list(theirs)}; "
                    "train one for these"
                )

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Model index (into `models`) per image."""
        if self._clf is None:
            raise PremodelError("the premodel is not trained; call fit() first")
        return np.asarray(self._clf.predict(self._check_features(features)), dtype=np.int64)

    def _check_training(
        self, features: np.ndarray, correct: np.ndarray, costs: Sequence[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        """`fit`'s inputs checked against the models: (features, correct as bools)."""
        x = self._check_features(features)
        correct = np.asarray(correct, dtype=bool)
        if correct.shape != (len(x), len(self.models)):
            raise PremodelError(
                f"correct must be {len(x)} images x {len(self.models)} models "
                f"({', '.join(self.models)}), got {correct.shape}"
            )
        if len(costs) != len(self.models):
            raise PremodelError(f"{len(costs)} costs for {len(self.models)} models")
        return x, correct

    def _check_features(self, features: np.ndarray) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise PremodelError(
                f"the premodel takes {len(self.features)} features "
                f"({', '.join(self.features)}), got an array of shape {x.shape}"
            )
        return x
