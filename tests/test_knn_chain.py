"""Taylor et al.'s k-NN chain premodel: one 'is this model enough?' k-NN per model."""

import numpy as np
import pytest

from visionbench.selection.knn_chain import KnnChain
from visionbench.selection.premodel import PremodelError

MODELS = ("cheap", "mid", "big")
FEATURES = ("f0", "f1")


def _data(n=300, seed=0):
    """Feature f0 says which model is enough: < 1/3 cheap, < 2/3 mid, else only big."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 2))
    tier = np.digitize(x[:, 0], [1 / 3, 2 / 3])
    correct = np.stack([tier <= 0, tier <= 1, np.ones(n, dtype=bool)], axis=1)
    return x, correct


def test_the_chain_routes_each_image_to_the_first_model_that_is_enough():
    x, correct = _data()
    chain = KnnChain(MODELS, FEATURES, ("a", "b"), tolerance=0.02).fit(x, correct, [1, 2, 10])
    test_x, _ = _data(200, seed=1)
    choice = chain.predict(test_x)
    tier = np.digitize(test_x[:, 0], [1 / 3, 2 / 3])
    assert (choice == tier).mean() > 0.9  # the features tell the tiers apart
    assert chain.chosen.name.startswith("knn_chain")
    assert {s.name for s in chain.scores} == {"knn_chain1", "knn_chain5", "knn_chain15"}
    assert repr(chain).startswith("KnnChain(knn_chain")


def test_a_model_that_is_always_enough_takes_every_image():
    x, correct = _data()
    correct[:, 0] = True
    chain = KnnChain(MODELS, FEATURES, ("a",)).fit(x, correct, [1, 2, 10])
    assert (chain.predict(x) == 0).all()


def test_it_refuses_what_it_was_not_trained_for():
    x, correct = _data()
    chain = KnnChain(MODELS, FEATURES, ("a",))
    with pytest.raises(PremodelError, match="not trained"):
        chain.predict(x)
    with pytest.raises(PremodelError, match="3 models"):
        chain.fit(x, correct[:, :2], [1, 2, 10])
    chain.fit(x, correct, [1, 2, 10])
    with pytest.raises(PremodelError, match="takes 2 features"):
        chain.predict(x[:, :1])
    with pytest.raises(ValueError, match="neighbour counts"):
        KnnChain(MODELS, FEATURES, ("a",), ks=())
