"""Leave-one-person-out (LOPO) cross-validation folds with a seeded train/validation split.

In each fold one person is held out for testing (during pre-training *and* fine-tuning); the remaining
persons are split into training and validation persons with a fixed seed (42 in [1]_ section 4.4),
so every model sees identical folds. The split is by person, so no person's frames are in two sets.

The leave-one-person-out partition itself (fold ``k`` tests on the ``k``-th subject in sorted order,
the others train) is :func:`radarkit.sim.dataset.lopo_folds`, the one written to a simulated
dataset's ``splits.json``; this module adds the seeded validation persons. The split of fold ``k``
depends only on ``seed``, ``k`` and the set of subject ids, not on their order: the fold's remaining
persons are permuted by ``numpy.random.default_rng([seed, k])`` and the first ``n_val`` validate.

References
----------
.. [1] "MAEPose: Self-Supervised Spatiotemporal Learning for Human Pose Estimation on mmWave Video"
   (``shared/papers/maepose.txt``), sections 4.4 and 4.6 (LOPO, split seed 42).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Fold", "lopo_folds", "fold_masks"]


@dataclass(frozen=True)
class Fold:
    """One leave-one-person-out fold.

    Attributes
    ----------
    index : int
        Fold number (position of the test person in the sorted subject list).
    test : int
        The held-out person's id.
    train : tuple of int
        Training persons (sorted).
    val : tuple of int
        Validation persons (sorted).
    """

    index: int
    test: int
    train: tuple[int, ...]
    val: tuple[int, ...]


def lopo_folds(subjects: Sequence[int], n_val: int = 1, seed: int = 42) -> list[Fold]:
    """Leave-one-person-out folds over the given persons with a seeded validation split ([1]_ 4.4).

    Parameters
    ----------
    subjects : sequence of int
        Person ids (duplicates are merged), e.g. the subject id of every sample.
    n_val : int
        Validation persons per fold, drawn from the persons other than the test person (0 allowed).
    seed : int
        Split seed (42 as in the paper).

    Returns
    -------
    list of Fold
        One fold per person, in sorted id order.

    Raises
    ------
    ValueError
        Fewer than two persons, or ``n_val`` leaving no training person.
    """
    from radarkit.sim.dataset import lopo_folds as lopo_partition  # the simulator's fold lists

    ids = sorted({int(s) for s in subjects})
    if len(ids) < 2:
        raise ValueError(f"leave-one-person-out needs at least two persons, got {len(ids)}")
    if not 0 <= n_val <= len(ids) - 2:
        raise ValueError(f"n_val={n_val} leaves no training person among {len(ids)} persons")
    folds = []
    for k, part in enumerate(lopo_partition(ids)):
        rest = sorted(part["train_subjects"])
        order = np.random.default_rng([seed, k]).permutation(len(rest))
        val = sorted(rest[i] for i in order[:n_val])
        train = sorted(rest[i] for i in order[n_val:])
        folds.append(Fold(k, int(part["test_subject"]), tuple(train), tuple(val)))
    return folds


def fold_masks(sample_subjects: Sequence[int], fold: Fold) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean sample masks of a fold's training, validation and test sets.

    Parameters
    ----------
    sample_subjects : sequence of int, length S
        Person id of each sample.
    fold : Fold
        The fold.

    Returns
    -------
    train, val, test : ndarray of bool, shape (S,)
        Disjoint masks; samples of persons in none of the sets are in none of the masks.
    """
    s = np.asarray(sample_subjects, dtype=np.int64).ravel()
    return np.isin(s, fold.train), np.isin(s, fold.val), s == fold.test
