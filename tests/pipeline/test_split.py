from datetime import date

import numpy as np
import pytest

from musicrec.errors import ArtifactError
from musicrec.pipeline.ids import IdIndex
from musicrec.pipeline.split import Listens, choose_split, day_number, history_before, period_pairs


def test_default_split_takes_the_last_days():
    dates = choose_split(date(2022, 1, 1), date(2022, 12, 31), test_days=14, target_days=7)
    assert dates.test_start == date(2022, 12, 18)
    assert dates.target_start == date(2022, 12, 11)


def test_configured_test_start_wins():
    dates = choose_split(date(2022, 1, 1), date(2022, 12, 31), 14, 14, test_start="2022-12-16")
    assert (dates.target_start, dates.test_start) == (date(2022, 12, 2), date(2022, 12, 16))


def test_split_without_train_period_names_the_keys():
    with pytest.raises(ArtifactError, match="test_days"):
        choose_split(date(2022, 12, 1), date(2022, 12, 31), test_days=14, target_days=20)


def _day(n: int) -> int:
    return day_number(date(2022, 1, n))


# (user, item, day): train before Jan 6, target Jan 6..8, test from Jan 9
LISTENS = Listens(
    users=np.array([0, 0, 1, 1, 2, 2, 0], dtype=np.int32),
    items=np.array([0, 1, 0, 0, 2, 1, 2], dtype=np.int32),
    days=np.array([_day(1), _day(3), _day(5), _day(5), _day(7), _day(9), _day(10)], dtype=np.int32),
)
DATES = choose_split(date(2022, 1, 1), date(2022, 1, 10), test_days=2, target_days=3)


def test_history_counts_only_the_listens_before_its_cutoff():
    data = history_before(LISTENS, IdIndex(np.array([10, 20, 30])), IdIndex(np.array([5, 6, 7])),
                          day_number(DATES.target_start), recent_days=2)
    assert data.matrix.toarray().tolist() == [[1, 1, 0], [2, 0, 0], [0, 0, 0]]
    assert data.item_first_day.tolist() == [_day(1), _day(3), -1]
    assert data.item_recent_listens.tolist() == [2, 0, 0]  # Jan 4..5
    assert data.user_last_day.tolist() == [_day(3), _day(5), -1]
    assert data.item_listeners.tolist() == [2, 1, 0]
    assert data.user_listens.tolist() == [2, 2, 0]
    assert data.recent_matrix.toarray().tolist() == [[0, 0, 0], [2, 0, 0], [0, 0, 0]]


def test_period_pairs_are_distinct_and_bounded():
    target = period_pairs(LISTENS, DATES.target_start, DATES.test_start, 3)
    test = period_pairs(LISTENS, DATES.test_start, None, 3)
    assert list(zip(target.users.tolist(), target.items.tolist())) == [(2, 2)]
    assert list(zip(test.users.tolist(), test.items.tolist())) == [(0, 2), (2, 1)]


def test_a_later_cutoff_knows_the_later_listens():
    data = history_before(LISTENS, IdIndex(np.array([10, 20, 30])), IdIndex(np.array([5, 6, 7])),
                          _day(11), recent_days=2)
    assert data.matrix.toarray().tolist() == [[1, 1, 1], [2, 0, 0], [0, 1, 1]]
    assert data.recent_matrix.toarray().tolist() == [[0, 0, 1], [0, 0, 0], [0, 1, 0]]  # Jan 9..10
    assert data.cutoff_day == _day(11)
