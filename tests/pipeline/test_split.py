from datetime import date

import numpy as np
import pytest

from musicrec.errors import ArtifactError
from musicrec.pipeline.ids import IdIndex
from musicrec.pipeline.split import (
    TARGET,
    TEST,
    TRAIN,
    ListenArrays,
    LocalLog,
    Thickness,
    TooThin,
    choose_split,
    day_number,
    history_before,
    per_user_periods,
    period_pairs,
    time_split,
)
from musicrec.settings import PipelineSettings

# Minimums the hand-made logs below can meet: two listens of one user who listened before.
SMALL = PipelineSettings(min_window_listens=2, min_window_users=1)


def _day(n: int, month: int = 1) -> int:
    return day_number(date(2022, month, n))


def _log(listens: list[tuple[int, int, int]]) -> ListenArrays:
    """Listens from (user, item, day number) rows, in the order given."""
    users, items, days = (np.array(column, dtype=np.int32) for column in zip(*listens))
    return ListenArrays(users, items, days)


def _daily(days: int) -> ListenArrays:
    """Users 0 and 1 each listen to one track a day from Jan 1 on."""
    return _log([(user, day % 5, _day(1) + day) for day in range(days) for user in (0, 1)])


def _monthly(months: int) -> ListenArrays:
    """Users 0..2 each listen to two tracks on the first day of every month: dates truncated to
    the month."""
    return _log([(user, item, _day(1, month)) for month in range(1, months + 1) for user in range(3)
                 for item in (month, month + 1)])


def test_daily_data_takes_the_last_days_as_they_are():
    split = choose_split(LocalLog(_daily(60), 2), SMALL)
    assert split.report["method"] == "days" and split.as_configured
    assert split.report["test_start"] == date(2022, 2, 16)  # the last 14 of 60 days from Jan 1
    assert split.report["target_start"] == date(2022, 2, 2)
    assert (split.report["test_days"], split.report["target_days"], split.recent_days) == (14, 14, 14)
    assert split.cutoffs == {"fit": _day(2, 2), "eval": _day(16, 2), "serve": _day(2, 3)}


def test_a_window_of_month_dated_data_is_widened_to_the_latest_month_that_holds_enough():
    listens = _monthly(4)
    split = choose_split(LocalLog(listens, 3), SMALL)
    # test: the last 14 days (from March 19) hold April 1; target: the 14 days before hold nothing,
    # so it starts on March 1, the latest day from which it holds enough
    assert split.report["method"] == "days" and not split.as_configured
    assert (split.report["target_start"], split.report["test_start"]) == (date(2022, 3, 1), date(2022, 3, 19))
    assert split.report["target_days"] == 18 and "widened to 18 days from 2022-03-01" in split.report["reason"]
    expected = np.select([listens.days >= _day(1, 4), listens.days >= _day(1, 3)], [TEST, TARGET], TRAIN)
    assert split.period.tolist() == expected.tolist()
    # the recent window reaches back from the fit cutoff (March 1) to February 1, 28 days before
    assert split.recent_days == 28


def test_the_users_of_a_window_are_those_who_listened_before_it():
    listens = _log([(0, 0, _day(1)), (0, 1, _day(5)), (1, 2, _day(5)), (1, 3, _day(6)), (2, 4, _day(2))])
    thickness = Thickness.before(listens, 3, _day(7))
    assert thickness.days.tolist() == [_day(1), _day(2), _day(5), _day(6)]
    assert thickness.at(_day(5)) == (3, 1)  # users 0 and 1 listen from Jan 5; only user 0 before it
    assert thickness.at(_day(6)) == (1, 1)  # user 1 on Jan 6, after Jan 5
    assert thickness.at(_day(3)) == (3, 1)  # no listens on Jan 3 and 4: as from Jan 5
    assert thickness.at(_day(1)) == (5, 0)  # nobody listened before the first day
    assert thickness.at(_day(7)) == (0, 0)


def test_given_window_settings_are_honoured_or_refused_by_name():
    listens = _monthly(4)
    honoured = choose_split(LocalLog(listens, 3), SMALL.model_copy(update={"test_start": "2022-03-01"}))
    assert honoured.report["test_start"] == date(2022, 3, 1)
    assert honoured.report["target_start"] == date(2022, 2, 1)  # the target window, left free, widened
    with pytest.raises(ArtifactError, match=r"\[pipeline\] target_days: the 14-day target window"):
        choose_split(LocalLog(listens, 3), SMALL.model_copy(update={"target_days": 14}))
    with pytest.raises(ArtifactError, match=r"\[pipeline\] test_start = 2023-01-01"):
        choose_split(LocalLog(listens, 3), SMALL.model_copy(update={"test_start": "2023-01-01"}))
    with pytest.raises(ArtifactError, match=r"\[pipeline\] target_days: the 60-day target window from "
                                            r"2021-12-03 holds 6 listens of 0 users"):
        choose_split(LocalLog(listens, 3), SMALL.model_copy(update={"test_days": 60, "target_days": 60}))


def test_a_time_split_that_leaves_too_little_to_learn_from_is_refused():
    # three months: test and target windows of one month each would leave a third to learn from
    with pytest.raises(TooThin, match="too many to leave enough to learn from"):
        time_split(LocalLog(_monthly(3), 3), SMALL)


def test_one_day_of_data_holds_out_each_users_last_listens():
    one_day = _day(10)
    rows = [(0, item, one_day) for item in range(10)] + [(1, item, one_day) for item in range(20)]
    rows += [(2, 0, one_day), (2, 1, one_day)]  # too few listens to hold any out
    split = choose_split(LocalLog(_log(rows), 3), SMALL)
    assert split.report["method"] == "per_user" and "no time split holds enough" in split.report["reason"]
    period = split.period.tolist()
    assert period[:10] == [TRAIN] * 8 + [TARGET, TEST]  # a tenth of 10 listens: one in each window
    assert period[10:30] == [TRAIN] * 16 + [TARGET] * 2 + [TEST] * 2
    assert period[30:] == [TRAIN, TRAIN]
    assert split.cutoffs == {"fit": one_day + 1, "eval": one_day + 1, "serve": one_day + 1}
    assert (split.target_users, split.test_users) == (2, 2)


def test_a_users_last_listens_are_the_latest_days_then_the_order_of_the_log():
    listens = _log([(0, 0, _day(5)), (0, 1, _day(3)), (0, 2, _day(4)), (0, 3, _day(4))])
    assert per_user_periods(listens).tolist() == [TEST, TRAIN, TRAIN, TARGET]


def test_too_little_data_for_any_split_names_the_minimums():
    listens = _log([(user, item, _day(1)) for user in range(3) for item in range(4)])
    with pytest.raises(ArtifactError, match=r"events.parquet \(started_at\).*min_window_users = 5"):
        choose_split(LocalLog(listens, 3), SMALL.model_copy(update={"min_window_users": 5}))


def test_a_given_setting_is_never_replaced_by_the_per_user_split():
    one_day = _log([(user, item, _day(1)) for user in range(3) for item in range(30)])
    with pytest.raises(ArtifactError, match=r"\[pipeline\] test_days: "):
        choose_split(LocalLog(one_day, 3), SMALL.model_copy(update={"test_days": 7}))


# (user, item, day): train before Jan 6, target Jan 6..8, test from Jan 9
LISTENS = ListenArrays(
    users=np.array([0, 0, 1, 1, 2, 2, 0], dtype=np.int32),
    items=np.array([0, 1, 0, 0, 2, 1, 2], dtype=np.int32),
    days=np.array([_day(1), _day(3), _day(5), _day(5), _day(7), _day(9), _day(10)], dtype=np.int32),
)
TARGET_START, TEST_START = date(2022, 1, 6), date(2022, 1, 9)


def test_history_counts_only_the_listens_before_its_cutoff():
    data = history_before(LISTENS, IdIndex(np.array([10, 20, 30])), IdIndex(np.array([5, 6, 7])),
                          day_number(TARGET_START), recent_days=2)
    assert data.matrix.toarray().tolist() == [[1, 1, 0], [2, 0, 0], [0, 0, 0]]
    assert data.item_first_day.tolist() == [_day(1), _day(3), -1]
    assert data.item_recent_listens.tolist() == [2, 0, 0]  # Jan 4..5
    assert data.user_last_day.tolist() == [_day(3), _day(5), -1]
    assert data.item_listeners.tolist() == [2, 1, 0]
    assert data.user_listens.tolist() == [2, 2, 0]
    assert data.recent_matrix.toarray().tolist() == [[0, 0, 0], [2, 0, 0], [0, 0, 0]]


def test_period_pairs_are_distinct_and_bounded():
    target = period_pairs(LISTENS, TARGET_START, TEST_START, 3)
    test = period_pairs(LISTENS, TEST_START, None, 3)
    assert list(zip(target.users.tolist(), target.items.tolist())) == [(2, 2)]
    assert list(zip(test.users.tolist(), test.items.tolist())) == [(0, 2), (2, 1)]


def test_a_later_cutoff_knows_the_later_listens():
    data = history_before(LISTENS, IdIndex(np.array([10, 20, 30])), IdIndex(np.array([5, 6, 7])),
                          _day(11), recent_days=2)
    assert data.matrix.toarray().tolist() == [[1, 1, 1], [2, 0, 0], [0, 1, 1]]
    assert data.recent_matrix.toarray().tolist() == [[0, 0, 1], [0, 0, 0], [0, 1, 0]]  # Jan 9..10
    assert data.cutoff_day == _day(11)
