"""Stage `split`: the event log split into train, a target window and a test period, and the
listening history at three cutoffs.

A global time split (one date for everybody) is what serving faces: models know the past and are
judged on the future. So by default

    train: day < target_start      target: target_start <= day < test_start      test: day >= test_start

with the test period the last `test_days` days and the target window the `target_days` before it.
Real logs are often dated by day, week or month, or have a gap before their last weeks, so a window
of the usual length may hold nothing. Each window must hold `[pipeline] min_window_listens` listens
of `min_window_users` users who listened before it (the users a model can be judged on):
  - a window left to its default length (`test_days` / `target_days` empty) that holds less is
    widened back to the latest day from which it holds enough: the smallest span that does;
  - when no time split holds enough in both windows and leaves at least half the listens to learn
    from (one day of data, every listen at the same time), each user's last listens are held out
    instead, the standard split for sparse logs: the last tenth of each user's listens (by day, then
    track_seq) is the test period, the tenth before it the target window;
  - `test_start`, `test_days` and `target_days`, when given, are honoured as they are, or the run
    stops with a message naming them.
split.json, and metrics.json after it, say which split was used and why (`SplitReport`).

Three histories are kept, one per moment a model is fit:
    fit    train only: candidate models are tuned on the target window, the ranker learns on it;
    eval   train + target: the lists judged on the test period, which no model sees;
    serve  everything: the published lists, which know the user's latest weeks.
This stage is the only pass over the full event log; later stages never touch the listens again.
The engine makes the pass (`split_locally` here, or on Spark: spark/split.py): both choose the split
with `choose_split` from what a `ListenLog` tells of the listens, and write it with `save`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from musicrec import schema
from musicrec.datasets.packed import distinct
from musicrec.errors import ArtifactError
from musicrec.pipeline.data import History, Pairs, user_runs
from musicrec.pipeline.ids import MISSING, IdIndex
from musicrec.pipeline.reports import SplitReport
from musicrec.pipeline.sequential import Sequence
from musicrec.pipeline.workspace import Cutoff, Period, Workspace
from musicrec.settings import PipelineSettings

if TYPE_CHECKING:
    from musicrec.pipeline.context import StageContext

logger = logging.getLogger(__name__)
EPOCH = date(1970, 1, 1)
TRAIN, TARGET, TEST = 0, 1, 2  # the period of a listen
DEFAULT_DAYS = 14  # the test period and the target window when test_days / target_days are empty
MAX_WINDOWS_SHARE = 0.5  # a time split keeps at least the rest of the listens to learn from
PER_USER_SHARE = 0.1  # per-user split: each window holds this share of a user's listens (at least one)
PER_USER_MIN_LISTENS = 3  # per-user split: users with fewer keep every listen in train
# Each history holds the listens of the periods before this one: fit = train, eval = train + target,
# serve = every listen.
HISTORY_ENDS_BEFORE: dict[Cutoff, int | None] = {"fit": TARGET, "eval": TEST, "serve": None}
HELD_OUT: tuple[tuple[Period, int], ...] = (("target", TARGET), ("test", TEST))  # the periods kept as pairs
NO_LISTENS = "events.parquet has no listens of catalog tracks: nothing to train on"


def day_number(day: date) -> int:
    """Days since 1970-01-01: how parquet date32 stores a date."""
    return (day - EPOCH).days


def day_of(number: int) -> date:
    return EPOCH + timedelta(days=int(number))


@dataclass(frozen=True)
class ListenArrays:
    """The event log as dense arrays: one row per listen, in the order of events.parquet (by user,
    then track_seq)."""

    users: np.ndarray  # int32 dense user index
    items: np.ndarray  # int32 dense item index
    days: np.ndarray  # int32 days since epoch


def read_listens(events_path: Path, items: IdIndex) -> tuple[IdIndex, ListenArrays, int]:
    """Read events.parquet into dense arrays; returns the user index, listens, dropped count.

    Listens of tracks outside the catalog cannot be named or served, so they are dropped (prepare
    normally leaves none) and counted.
    """
    table = pq.read_table(events_path, columns=[schema.USER_ID, schema.ITEM_ID, schema.STARTED_AT])
    raw_users = table.column(schema.USER_ID).to_numpy()
    item_index = items.encode(table.column(schema.ITEM_ID).to_numpy())
    days = table.column(schema.STARTED_AT).cast(pa.int32()).to_numpy()
    del table
    known = item_index != MISSING
    dropped = int(known.size - known.sum())
    if dropped:
        raw_users, item_index, days = raw_users[known], item_index[known], days[known]
    users = IdIndex.from_ids(raw_users)
    return users, ListenArrays(users.encode(raw_users), item_index, days.astype(np.int32)), dropped


# --- how much a window holds --------------------------------------------------------------------

@dataclass(frozen=True)
class Thickness:
    """What a window ending at day `end` holds for each possible first day: its listens, and its
    users who also listened before it. Computed once for every start, so widening a window is a
    look-up, not a pass over the listens per candidate day."""

    days: np.ndarray  # every day with listens before `end`, ascending
    listens: np.ndarray  # listens from days[j] up to `end`
    users: np.ndarray  # users with a listen from days[j] up to `end` and one before days[j]

    @classmethod
    def before(cls, listens: ListenArrays, n_users: int, end: int) -> Thickness:
        days, users = listens.days, listens.users
        if days.size and days.max() >= end:  # the test window ends after the log: no copy of it
            inside = days < end
            days, users = days[inside], users[inside]
        if not days.size:
            return cls.of(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))
        first_day = days.min()
        per_day = np.bincount(days - first_day)
        present = per_day > 0
        first = np.full(n_users, np.iinfo(np.int32).max, np.int32)
        last = np.full(n_users, -1, np.int32)
        np.minimum.at(first, users, days)
        np.maximum.at(last, users, days)
        seen = last >= 0
        return cls.of(np.flatnonzero(present) + first_day, per_day[present], first[seen], last[seen])

    @classmethod
    def of(cls, days: np.ndarray, per_day: np.ndarray, first: np.ndarray, last: np.ndarray) -> Thickness:
        """From what an engine counts over the listens before the window's end: each day with listens
        (ascending) and its listens, and each user's first and last day with a listen."""
        if not days.size:
            empty = np.zeros(0, np.int64)
            return cls(empty, empty, empty)
        first, last = np.searchsorted(days, first), np.searchsorted(days, last)  # positions in days
        # a user counts for the starts j with first < j <= last: +1 at first + 1, -1 after last
        spans = first < last
        change = (np.bincount(first[spans] + 1, minlength=days.size + 1)
                  - np.bincount(last[spans] + 1, minlength=days.size + 1))
        return cls(np.asarray(days, np.int64), np.cumsum(np.asarray(per_day, np.int64)[::-1])[::-1],
                   np.cumsum(change)[:-1])

    def at(self, start: int) -> tuple[int, int]:
        """(listens, users who listened before) of the window from day `start`."""
        j = int(np.searchsorted(self.days, start))
        return (int(self.listens[j]), int(self.users[j])) if j < self.days.size else (0, 0)

    def latest_start(self, limit: int, settings: PipelineSettings) -> int | None:
        """The latest day on or before `limit` from which the window holds enough, if any."""
        enough = ((self.days <= limit) & (self.listens >= settings.min_window_listens)
                  & (self.users >= settings.min_window_users))
        found = np.flatnonzero(enough)
        return int(self.days[found[-1]]) if found.size else None

    def last_day_before(self, day: int) -> int:
        """The last day with listens before `day` (`day` itself if none)."""
        j = int(np.searchsorted(self.days, day))
        return int(self.days[j - 1]) if j else day


def holds_enough(listens: int, users: int, settings: PipelineSettings) -> bool:
    return listens >= settings.min_window_listens and users >= settings.min_window_users


def minimums(settings: PipelineSettings) -> str:
    return (f"at least [pipeline] min_window_listens = {settings.min_window_listens} listens and "
            f"min_window_users = {settings.min_window_users} users are needed")


class TooThin(Exception):
    """No time split holds enough in both windows; the message says what was found."""


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    listens: int
    users: int
    how: str  # how it was placed, for the report
    widened: bool = False


def place_window(thickness: Thickness, end: int, name: str, settings: PipelineSettings,
                 days: int | None, start: int | None = None, setting: str | None = None) -> Window:
    """The window that ends at day `end`: from `start`, or `days` (DEFAULT_DAYS when None) before.

    A window fixed by a setting (`setting` names it) is taken as it is if it holds enough, else
    refused; one of the default length is widened back to the latest day from which it holds enough.
    """
    start = end - (days or DEFAULT_DAYS) if start is None else start
    listens, users = thickness.at(start)
    found = (f"the {end - start}-day {name} window from {day_of(start)} holds {listens} listens of "
             f"{users} users who listened before it")
    if holds_enough(listens, users, settings):
        return Window(start, end, listens, users, found)
    if setting is not None:
        raise ArtifactError(f"[pipeline] {setting}: {found}, and {minimums(settings)}; change "
                            f"{setting} (or empty it to let the split choose), or lower the minimums")
    earlier = thickness.latest_start(start, settings)
    if earlier is None:
        raise TooThin(f"{found}, and no longer {name} window holds enough")
    listens, users = thickness.at(earlier)
    return Window(earlier, end, listens, users,
                  f"{found} ({minimums(settings)}): widened to {end - earlier} days from "
                  f"{day_of(earlier)}, which hold {listens} listens of {users} users", widened=True)


# --- the two kinds of split ---------------------------------------------------------------------

class ListenLog(Protocol):
    """What choosing a split asks of the listens, wherever they are held: in this process
    (`LocalLog`) or on Spark (spark/split.py). A period is TRAIN, TARGET or TEST per listen, in the
    log's own form (an int8 array here, a column on Spark)."""

    @property
    def size(self) -> int:
        """The number of listens."""

    @property
    def first_day(self) -> int:
        """The first day with a listen, in days since 1970-01-01."""

    @property
    def last_day(self) -> int:
        """The last day with a listen."""

    def thickness(self, end: int) -> Thickness:
        """What a window ending at day `end` holds, for each possible first day."""

    def periods_by_day(self, target_start: int, test_start: int) -> Any:
        """The period of each listen under the time split with these windows."""

    def periods_per_user(self) -> tuple[Any, dict[str, tuple[int, int]]]:
        """Each listen's period under the per-user split (`per_user_periods`), and what its target and
        test windows hold: (listens, users) by window name."""


@dataclass
class LocalLog:
    """The listens in this process as a ListenLog."""

    listens: ListenArrays
    n_users: int

    @property
    def size(self) -> int:
        return int(self.listens.days.size)

    @property
    def first_day(self) -> int:
        return int(self.listens.days.min())

    @property
    def last_day(self) -> int:
        return int(self.listens.days.max())

    def thickness(self, end: int) -> Thickness:
        return Thickness.before(self.listens, self.n_users, end)

    def periods_by_day(self, target_start: int, test_start: int) -> np.ndarray:
        days = self.listens.days
        return ((days >= target_start).astype(np.int8) + (days >= test_start)).astype(np.int8)

    def periods_per_user(self) -> tuple[np.ndarray, dict[str, tuple[int, int]]]:
        period = per_user_periods(self.listens)
        held = {name: (int((period == value).sum()), int(distinct(self.listens.users[period == value]).size))
                for name, value in (("target", TARGET), ("test", TEST))}
        return period, held


@dataclass(frozen=True)
class Split:
    """Which period each listen falls in, the first day after each history, and why."""

    period: Any  # TRAIN, TARGET or TEST per listen, in the ListenLog's form (int8 array locally)
    cutoffs: dict[Cutoff, int]  # each history's cutoff day: its recent window ends there
    recent_days: int
    report: dict[str, Any]  # SplitReport fields: method, reason, the windows' dates and lengths
    target_users: int
    test_users: int
    as_configured: bool  # False when a window was widened or the split fell back to per-user


def given_settings(settings: PipelineSettings) -> list[str]:
    """The split settings given explicitly: each is honoured or the run stops naming it."""
    return [name for name in ("test_start", "test_days", "target_days") if getattr(settings, name) is not None]


def time_split(log: ListenLog, settings: PipelineSettings) -> Split:
    """The global split: test = the last days, target = the days before, each holding enough.

    Raises TooThin when windows the settings left free cannot hold enough, and ArtifactError
    (naming the setting) when a given one cannot be honoured.
    """
    first, last = log.first_day, log.last_day
    end = last + 1
    everything = log.thickness(end)
    if settings.test_start is not None:
        start = day_number(date.fromisoformat(settings.test_start))
        if not first < start <= last:
            raise ArtifactError(f"[pipeline] test_start = {settings.test_start}: the listens run from "
                                f"{day_of(first)} to {day_of(last)}; choose a day after the first and "
                                "on or before the last")
        test = place_window(everything, end, "test", settings, None, start, "test_start")
    else:
        test = place_window(everything, end, "test", settings, settings.test_days,
                            setting="test_days" if settings.test_days else None)
    target = place_window(log.thickness(test.start), test.start, "target", settings,
                          settings.target_days, setting="target_days" if settings.target_days else None)
    # A window's users listened before it, so a train period is always left before the target window.
    windows = test.listens + target.listens
    if not given_settings(settings) and windows > MAX_WINDOWS_SHARE * log.size:
        raise TooThin(f"the test period and target window ({test.how}; {target.how}) hold {windows} of "
                      f"{log.size} listens, too many to leave enough to learn from")
    period = log.periods_by_day(target.start, test.start)
    # The recent window spans the target window, and reaches back to the last day with listens
    # before each cutoff, so coarse dates (one day a month) never leave a history's recent part empty.
    recent = max(target.end - target.start,
                 *(cutoff - everything.last_day_before(cutoff) for cutoff in (target.start, test.start)))
    return Split(period, {"fit": target.start, "eval": test.start, "serve": end}, recent,
                 {"method": "days", "reason": f"{test.how}; {target.how}", "target_start": day_of(target.start),
                  "test_start": day_of(test.start), "target_days": target.end - target.start,
                  "test_days": test.end - test.start}, target.users, test.users,
                 as_configured=not (target.widened or test.widened))


def per_user_periods(listens: ListenArrays) -> np.ndarray:
    """TEST for each user's last PER_USER_SHARE of listens (by day, then the order of events.parquet,
    which is track_seq), TARGET for as many before them, TRAIN for the rest (int8 per listen)."""
    n = listens.users.size
    order = np.lexsort((np.arange(n), listens.days, listens.users))
    starts, sizes = user_runs(listens.users[order])
    size = np.repeat(sizes, sizes)
    from_end = np.repeat(starts + sizes, sizes) - np.arange(n) - 1  # 0: the user's last listen
    held = np.where(size >= PER_USER_MIN_LISTENS, np.maximum(1, (size * PER_USER_SHARE).astype(np.int64)), 0)
    in_order = np.where(from_end < held, TEST, np.where(from_end < 2 * held, TARGET, TRAIN)).astype(np.int8)
    period = np.empty(n, np.int8)
    period[order] = in_order
    return period


def per_user_split(log: ListenLog, settings: PipelineSettings, why: str) -> Split:
    """Each user's last listens held out; ArtifactError naming the minimums when even that is thin."""
    period, held = log.periods_per_user()
    target_users, test_users = held["target"][1], held["test"][1]
    found = ", ".join(f"{name} {count} listens of {users} users" for name, (count, users) in held.items())
    if not all(holds_enough(count, users, settings) for count, users in held.values()):
        raise ArtifactError(f"events.parquet ({schema.STARTED_AT}): no split holds enough to tune and judge "
                            f"on: {why}; holding out each user's last listens gives {found}, and "
                            f"{minimums(settings)}; lower them, or give more listens")
    end = log.last_day + 1
    reason = (f"no time split holds enough: {why}; so each user's last listens are held out "
              f"({found})")
    return Split(period, {"fit": end, "eval": end, "serve": end}, DEFAULT_DAYS,
                 {"method": "per_user", "reason": reason, "per_user_share": PER_USER_SHARE},
                 target_users, test_users, as_configured=False)


def choose_split(log: ListenLog, settings: PipelineSettings) -> Split:
    """The time split where it holds enough, else (when no split setting is given) the per-user one."""
    try:
        return time_split(log, settings)
    except TooThin as thin:
        given = given_settings(settings)
        if given:
            raise ArtifactError(f"[pipeline] {' / '.join(given)}: a time split with them does not hold "
                                f"enough: {thin}; {minimums(settings)}; change them, or empty them to let "
                                "the split choose (it may hold out each user's last listens)") from None
        return per_user_split(log, settings, str(thin))


# --- histories and pairs ------------------------------------------------------------------------

def history_of(listens: ListenArrays, keep: np.ndarray | None, users: IdIndex, items: IdIndex, cutoff: int,
               recent_days: int) -> History:
    """Count matrices and per-user / per-item arrays of the kept listens (all when `keep` is None);
    `cutoff` is the first day after them, `recent_days` before it count as recent."""
    if keep is None:
        u, i, d = listens.users, listens.items, listens.days
    else:
        u, i, d = listens.users[keep], listens.items[keep], listens.days[keep]
    n_users, n_items = len(users), len(items)
    item_first_day = np.full(n_items, np.iinfo(np.int32).max, dtype=np.int32)
    np.minimum.at(item_first_day, i, d)
    item_first_day[item_first_day == np.iinfo(np.int32).max] = -1
    user_last_day = np.full(n_users, -1, dtype=np.int32)
    np.maximum.at(user_last_day, u, d)
    recent = d >= cutoff - recent_days
    return History(users, items, count_matrix(u, i, (n_users, n_items)),
                   count_matrix(u[recent], i[recent], (n_users, n_items)), item_first_day,
                   user_last_day, cutoff)


def history_before(listens: ListenArrays, users: IdIndex, items: IdIndex, cutoff: int,
                   recent_days: int) -> History:
    """The history of the listens before day `cutoff`."""
    return history_of(listens, listens.days < cutoff, users, items, cutoff, recent_days)


def count_matrix(users: np.ndarray, items: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """users x items listen counts (float32 CSR; repeated listens are summed)."""
    matrix = sp.csr_matrix((np.ones(users.size, dtype=np.float32), (users, items)), shape=shape,
                           dtype=np.float32)
    matrix.sum_duplicates()
    return matrix


def period_pairs(listens: ListenArrays, start: date, end: date | None, n_items: int) -> Pairs:
    """Distinct (user, item) pairs listened from `start` up to (not including) `end`."""
    mask = listens.days >= day_number(start)
    if end is not None:
        mask &= listens.days < day_number(end)
    return Pairs.from_listens(listens.users[mask], listens.items[mask], n_items)


def catalog_index(work: Workspace) -> IdIndex:
    """The dense index of every catalog track (items.parquet)."""
    return IdIndex.from_ids(pq.read_table(work.require(schema.ITEMS_FILE, "prepare"), columns=[schema.ITEM_ID])
                            .column(schema.ITEM_ID).to_numpy())


def save(work: Workspace, split: Split, log: ListenLog, histories: Iterable[tuple[Cutoff, History]],
         pairs: Iterable[tuple[Period, Pairs]], period_listens: np.ndarray, dropped: int) -> dict[str, Any]:
    """Write what the split leaves for later stages and split.json; returns its summary. `histories`
    and `pairs` may be generators: each is written and let go before the next is made (memory at
    full size). `period_listens`: the listens of each period (TRAIN, TARGET, TEST)."""
    sizes: dict[str, int] = {}
    for name, history in histories:
        work.save_history(name, history)
        sizes = {"users": len(history.users), "items": len(history.items)}
        del history
    pair_counts: dict[Period, int] = {}
    for period, found in pairs:
        work.save_pairs(period, found)
        pair_counts[period] = int(found.users.size)
    report = SplitReport(
        **split.report, first_day=day_of(log.first_day), last_day=day_of(log.last_day),
        recent_days=split.recent_days, listens=log.size, train_listens=int(period_listens[TRAIN]),
        dropped_unknown_track_listens=dropped, **sizes,
        target_listens=int(period_listens[TARGET]), target_users=split.target_users,
        target_pairs=pair_counts["target"], test_listens=int(period_listens[TEST]),
        test_users=split.test_users, test_pairs=pair_counts["test"],
    )
    work.save_split(report)
    if not split.as_configured:
        logger.warning("split: %s split: %s", report.method, report.reason)
    logger.info("split: %s", report.as_json())
    return report.as_json()


def run(context: StageContext) -> dict[str, Any]:
    """The split stage, by the run's engine."""
    return context.engine.split(context)


def split_locally(context: StageContext) -> dict[str, Any]:
    """Split events.parquet in memory: the listens as dense arrays, each history a mask of them."""
    work, params = context.work, context.params
    items = catalog_index(work)
    users, listens, dropped = read_listens(work.require(schema.EVENTS_FILE, "prepare"), items)
    if not listens.days.size:
        raise ArtifactError(NO_LISTENS)
    log = LocalLog(listens, len(users))
    split = choose_split(log, params)

    def histories() -> Iterable[tuple[Cutoff, History]]:
        for name, cutoff in split.cutoffs.items():
            ends = HISTORY_ENDS_BEFORE[name]
            keep = None if ends is None else split.period < ends
            yield name, history_of(listens, keep, users, items, cutoff, split.recent_days)

    def pairs() -> Iterable[tuple[Period, Pairs]]:
        for name, value in HELD_OUT:
            inside = split.period == value
            yield name, Pairs.from_listens(listens.users[inside], listens.items[inside], len(items))

    work.save_sequence(listening_order(listens, split.period, len(users)))
    return save(work, split, log, histories(), pairs(), np.bincount(split.period, minlength=3), dropped)


def listening_order(listens: ListenArrays, period: np.ndarray, n_users: int) -> Sequence:
    """The listens by user in the order of events.parquet (track_seq): what the sequential similar
    tracks learn from and are judged on. Dense users follow the raw ids' order, so each user's
    listens are already together; a log that is not sorted so is sorted (stably) first."""
    users = listens.users
    starts = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=starts[1:])
    if users.size and not bool(np.all(users[1:] >= users[:-1])):
        order = np.argsort(users, kind="stable")
        return Sequence(listens.items[order], np.asarray(period)[order], starts)
    return Sequence(listens.items, np.asarray(period, dtype=np.int8), starts)
