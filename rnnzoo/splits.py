"""Fixed train / validation / test splits of a zoo, by seed.

A network's seed fixes its initial weights, and every network of one seed (across delays, learning rates and
families) starts from the same initial weights. A split by network would let a test network's twin (same start,
other cell) sit in the training set, so the split is by seed: every network of one seed falls in one split.

The rule: `split = SPLIT_PATTERN[seed % 10]`, a fixed pattern of 6 train, 2 validation and 2 test seeds per ten,
ordered so that the first three seeds already cover the three splits (seeds 0, 1, 2 -> train, validation, test).
Small zoos therefore get all three splits (the 3-seed tiny preset: 1/1/1 seeds; the 6-seed sample: 4/1/1;
7 seeds: 5/1/1), and large ones 60/20/20. It depends on the seed alone, so a network's split never changes when
a zoo grows or is assembled again, and the same network has the same split in every zoo.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

SPLITS = ("train", "validation", "test")
SPLIT_PATTERN = ("train", "validation", "test", "train", "train", "train", "train", "validation", "test", "train")
SPLIT_RULE = ("by seed: split = SPLIT_PATTERN[seed % 10] with the pattern train, validation, test, train, train, "
              "train, train, validation, test, train (6 / 2 / 2 seeds per ten; seeds 0, 1, 2 cover the three "
              "splits); every network of one seed shares its initial weights and falls in one split")


def split_of(seed: int) -> str:
    """The split of every network of this seed."""
    return SPLIT_PATTERN[int(seed) % len(SPLIT_PATTERN)]


def splits_of(seeds: Sequence[int] | np.ndarray) -> np.ndarray:
    """The split of each seed, as an object array of 'train' / 'validation' / 'test'."""
    pattern = np.asarray(SPLIT_PATTERN, dtype=object)
    return pattern[np.asarray(seeds, dtype=np.int64) % len(SPLIT_PATTERN)]


def check_split(split: str | None) -> str | None:
    """`split` if it names one of SPLITS (or None: every split), else a ValueError naming the valid ones."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; the splits are {', '.join(SPLITS)} (or None for all)")
    return split
