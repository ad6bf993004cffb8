"""Grouped weighted sampling: draws stay in their group, follow the weights, skip zero weights."""

from __future__ import annotations

import numpy as np

from musicrec.datasets.sampling import NO_MEMBER, GroupedSampler

# group 0: members 10 (weight 1) and 11 (weight 3); group 1: member 12 with weight 0 and 13 (1);
# group 2 has no members; member 10 also belongs to group 3.
SAMPLER = GroupedSampler(
    groups=np.array([1, 0, 0, 1, 3]),
    members=np.array([12, 10, 11, 13, 10]),
    weights=np.array([0.0, 1.0, 3.0, 1.0, 2.0]),
    n_groups=4,
)


def test_draws_follow_the_weights_within_the_group() -> None:
    drawn = SAMPLER.sample(np.zeros(40_000, dtype=np.int64), np.random.default_rng(0))

    assert set(np.unique(drawn)) == {10, 11}
    assert abs((drawn == 11).mean() - 0.75) < 0.01


def test_zero_weight_members_and_empty_groups() -> None:
    rng = np.random.default_rng(1)

    assert set(SAMPLER.sample(np.ones(1_000, dtype=np.int64), rng)) == {13}
    assert set(SAMPLER.sample(np.full(10, 2), rng)) == {NO_MEMBER}
    assert set(SAMPLER.sample(np.full(10, 3), rng)) == {10}


def test_same_generator_state_gives_the_same_draws() -> None:
    groups = np.array([0, 1, 3, 0, 0])

    first = SAMPLER.sample(groups, np.random.default_rng(5))
    assert np.array_equal(first, SAMPLER.sample(groups, np.random.default_rng(5)))


def test_no_member_groups_give_no_member() -> None:
    drawn = SAMPLER.sample(np.array([NO_MEMBER, 0, NO_MEMBER]), np.random.default_rng(2))

    assert drawn[0] == NO_MEMBER and drawn[2] == NO_MEMBER and drawn[1] in (10, 11)
