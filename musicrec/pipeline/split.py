"""Stage `split`: a global time split of the event log, and the listening history at three cutoffs.

    train: day < target_start      target: target_start <= day < test_start      test: day >= test_start

A global split (one date for everybody) is what serving faces: models know the past and are judged
on the future. Three histories are kept, one per moment a model is fit:
    fit    train only: candidate models are tuned on the target window, the ranker learns on it;
    eval   train + target: the lists judged on the test period, which no model sees;
    serve  everything: the published lists, which know the user's latest weeks.
This stage is the only pass over the full event log; later stages never touch the listens again.
The engine does the pass (`split_locally` here, or on Spark: spark/split.py); both end in `save`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from musicrec import schema
from musicrec.errors import ArtifactError
from musicrec.pipeline.data import History, Pairs
from musicrec.pipeline.ids import MISSING, IdIndex
from musicrec.pipeline.workspace import Cutoff, Workspace

if TYPE_CHECKING:
    from musicrec.pipeline.context import StageContext

log = logging.getLogger(__name__)
EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    """Days since 1970-01-01: how parquet date32 stores a date."""
    return (day - EPOCH).days


def day_of(number: int) -> date:
    return EPOCH + timedelta(days=int(number))


@dataclass(frozen=True)
class SplitDates:
    first_day: date
    target_start: date
    test_start: date
    last_day: date

    def as_json(self) -> dict[str, str]:
        return {key: value.isoformat() for key, value in asdict(self).items()}


def choose_split(
    first_day: date, last_day: date, test_days: int, target_days: int,
    test_start: str | None = None
) -> SplitDates:
    """The split dates: test = the last `test_days` days unless `test_start` (YYYY-MM-DD) is given."""
    start = date.fromisoformat(test_start) if test_start else last_day - timedelta(days=test_days - 1)
    target_start = start - timedelta(days=target_days)
    if not first_day < target_start < start <= last_day:
        raise ArtifactError(
            f"cannot split events from {first_day} to {last_day}: test from {start} with a "
            f"{target_days}-day target window leaves no train period; lower "
            "[pipeline] test_days / target_days or set test_start"
        )
    return SplitDates(first_day, target_start, start, last_day)


@dataclass(frozen=True)
class Listens:
    """The event log as dense arrays: one row per listen."""

    users: np.ndarray  # int32 dense user index
    items: np.ndarray  # int32 dense item index
    days: np.ndarray  # int32 days since epoch


def read_listens(events_path: Path, items: IdIndex) -> tuple[IdIndex, Listens, int]:
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
    return users, Listens(users.encode(raw_users), item_index, days.astype(np.int32)), dropped


def history_before(listens: Listens, users: IdIndex, items: IdIndex, cutoff: int,
                   recent_days: int) -> History:
    """Count matrices and per-user / per-item arrays of the listens before day `cutoff`."""
    before = listens.days < cutoff
    u, i, d = listens.users[before], listens.items[before], listens.days[before]
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


def count_matrix(users: np.ndarray, items: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """users x items listen counts (float32 CSR; repeated listens are summed)."""
    matrix = sp.csr_matrix((np.ones(users.size, dtype=np.float32), (users, items)), shape=shape,
                           dtype=np.float32)
    matrix.sum_duplicates()
    return matrix


def period_pairs(listens: Listens, start: date, end: date | None, n_items: int) -> Pairs:
    """Distinct (user, item) pairs listened from `start` up to (not including) `end`."""
    mask = listens.days >= day_number(start)
    if end is not None:
        mask &= listens.days < day_number(end)
    return Pairs.from_listens(listens.users[mask], listens.items[mask], n_items)


def cutoff_days(dates: SplitDates) -> dict[Cutoff, int]:
    """The first day each history leaves out: the target window, the test period, nothing."""
    return {"fit": day_number(dates.target_start), "eval": day_number(dates.test_start),
            "serve": day_number(dates.last_day + timedelta(days=1))}


def catalog_index(work: Workspace) -> IdIndex:
    """The dense index of every catalog track (items.parquet)."""
    return IdIndex.from_ids(pq.read_table(work.items_path(), columns=[schema.ITEM_ID])
                            .column(schema.ITEM_ID).to_numpy())


def save(work: Workspace, dates: SplitDates, histories: Iterable[tuple[Cutoff, History]], target: Pairs,
         test: Pairs, counts: dict[str, int]) -> dict[str, Any]:
    """Write what the split leaves for later stages; returns its summary (split.json). `histories`
    may be a generator: each is written and let go before the next is made (memory at full size)."""
    sizes = {}
    for name, history in histories:
        work.save_history(name, history)
        sizes = {"users": len(history.users), "items": len(history.items)}
    work.save_pairs("target", target)
    work.save_pairs("test", test)
    summary = {
        **dates.as_json(),
        **counts,  # listens, train_listens, dropped_unknown_track_listens
        **sizes,
        "target_pairs": int(target.users.size),
        "test_pairs": int(test.users.size),
    }
    work.save_split(summary)
    log.info("split: %s", summary)
    return summary


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
    dates = choose_split(day_of(listens.days.min()), day_of(listens.days.max()),
                         params.test_days, params.target_days, params.test_start)
    histories = ((name, history_before(listens, users, items, cutoff, params.target_days))
                 for name, cutoff in cutoff_days(dates).items())
    counts = {"listens": int(listens.days.size),
              "train_listens": int((listens.days < day_number(dates.target_start)).sum()),
              "dropped_unknown_track_listens": dropped}
    return save(work, dates, histories, period_pairs(listens, dates.target_start, dates.test_start, len(items)),
                period_pairs(listens, dates.test_start, None, len(items)), counts)


NO_LISTENS = "events.parquet has no listens of catalog tracks: nothing to train on"
