"""Pick the users to replay and their test-period listens, in the order they happened.

The replay must only show the services what they would have seen live: listens from the test
period (which no model was trained on), one user at a time, in time order (by `started_at`, then
`track_seq`, since a day holds many listens). Users are drawn at random with a seed, from everyone
who listened in the test period, so the sample has users with offline recommendations and cold
users in their natural proportion; each group is reported on its own.

Only the test period of events.parquet is read (a row-group filter on `started_at`), and the set
of users with offline recommendations is collected from one column, so this works at full size.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from musicrec import schema
from musicrec.errors import ArtifactError, InvalidInput
from musicrec.serving.columns import artifact_error

logger = logging.getLogger(__name__)

SPLIT_KEY = "split"  # metrics.json: the pipeline's split dates
TEST_START_KEY = "test_start"


@dataclass(frozen=True)
class ReplaySample:
    """Sampled users and their test listens in time order, in CSR form.

    Attributes
    ----------
    users : int32 user ids, sorted.
    has_offline : bool per user: the pipeline made personal recommendations for them.
    offsets : int64, ``len(users) + 1``; the listens of ``users[i]`` are ``items[offsets[i]:offsets[i+1]]``.
    items : int32 listened tracks, per user in time order.
    test_start : first day of the test period.
    """

    users: np.ndarray
    has_offline: np.ndarray
    offsets: np.ndarray
    items: np.ndarray
    test_start: date

    def __len__(self) -> int:
        return len(self.users)

    @property
    def listens(self) -> int:
        return len(self.items)

    def listens_of(self, position: int) -> np.ndarray:
        return self.items[self.offsets[position] : self.offsets[position + 1]]

    def listen_counts(self) -> np.ndarray:
        return np.diff(self.offsets)


def evaluation_lists(folder: Path) -> Path:
    """The folder of lists to replay: the set's evaluation/ lists, made without the test period.

    A set without them (an older or course-made one) is replayed as it is, with a warning: its
    lists were filtered against the test period, so offline hits there mean little.
    """
    evaluation = folder / schema.EVALUATION_DIR
    if (evaluation / schema.RECOMMENDATIONS_FILE).is_file():
        return evaluation
    logger.warning("%s has no %s/ lists: replaying the served lists, which knew the test period",
                   folder, schema.EVALUATION_DIR)
    return folder


def read_test_start(folder: Path) -> date:
    """The test period's first day, as the pipeline recorded it in metrics.json."""
    path = folder / schema.METRICS_FILE
    if not path.is_file():
        raise artifact_error(path, "file is missing (or pass --test-start YYYY-MM-DD)")
    try:
        return date.fromisoformat(json.loads(path.read_text())[SPLIT_KEY][TEST_START_KEY])
    except (ValueError, KeyError, TypeError) as exc:
        raise artifact_error(path, f"has no valid {SPLIT_KEY}.{TEST_START_KEY} ({exc!r})") from None


def offline_users(folder: Path) -> np.ndarray:
    """Sorted ids of the users that recommendations.parquet has lists for (read one column)."""
    path = folder / schema.RECOMMENDATIONS_FILE
    if not path.is_file():
        raise artifact_error(path, "file is missing")
    parquet = pq.ParquetFile(path)
    uniques = [pc.unique(parquet.read_row_group(group, columns=[schema.USER_ID]).column(0)).to_numpy()
               for group in range(parquet.num_row_groups)]
    return np.unique(np.concatenate(uniques)) if uniques else np.empty(0, dtype=np.int32)


def read_test_listens(folder: Path, test_start: date) -> dict[str, np.ndarray]:
    """Every listen on or after `test_start`: user, item, day and sequence columns as arrays."""
    path = folder / schema.EVENTS_FILE
    if not path.is_file():
        raise artifact_error(path, "file is missing")
    columns = [schema.USER_ID, schema.ITEM_ID, schema.STARTED_AT, schema.TRACK_SEQ]
    table = pq.read_table(path, columns=columns, filters=[(schema.STARTED_AT, ">=", test_start)])
    arrays = {name: table.column(name) for name in columns}
    arrays[schema.STARTED_AT] = arrays[schema.STARTED_AT].cast(pa.int32())  # days since 1970
    return {name: column.to_numpy() for name, column in arrays.items()}


def draw_sample(
    listens: dict[str, np.ndarray], offline: np.ndarray, users: int, seed: int, max_listens: int,
    test_start: date, exclude: np.ndarray | None = None,
) -> ReplaySample:
    """`users` users drawn at random (seeded) with their first `max_listens` test listens in time order.

    Users in `exclude` are never drawn: tuning uses users other than the ones the report is made on,
    so the chosen defaults are judged on users they were not picked on.
    """
    if users < 1 or max_listens < 1:
        raise InvalidInput(f"need at least one user and one listen per user, got {users} and {max_listens}")
    user_column = listens[schema.USER_ID]
    candidates = np.unique(user_column)
    if exclude is not None:
        candidates = np.setdiff1d(candidates, exclude, assume_unique=True)
    if len(candidates) == 0:
        raise ArtifactError(f"no (other) users with listens on or after {test_start}: nothing to replay")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(candidates, size=min(users, len(candidates)), replace=False))
    rows = np.flatnonzero(np.isin(user_column, chosen))
    order = np.lexsort((listens[schema.TRACK_SEQ][rows], listens[schema.STARTED_AT][rows], user_column[rows]))
    rows = rows[order]
    starts = np.searchsorted(user_column[rows], chosen)  # every chosen user has at least one row
    per_user = np.diff(np.append(starts, len(rows)))
    position_in_user = np.arange(len(rows)) - np.repeat(starts, per_user)
    kept = rows[position_in_user < max_listens]
    counts = np.minimum(per_user, max_listens)
    return ReplaySample(
        users=chosen.astype(np.int32),
        has_offline=np.isin(chosen, offline),
        offsets=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
        items=listens[schema.ITEM_ID][kept].astype(np.int32),
        test_start=test_start,
    )


class EvaluationPeriod:
    """The test period's listens and the users with offline lists, read once, to draw samples from."""

    def __init__(self, folder: Path, test_start: date | None = None, lists_folder: Path | None = None) -> None:
        self.start = test_start or read_test_start(folder)
        self.listens = read_test_listens(folder, self.start)
        self.offline = offline_users(lists_folder or folder)

    def draw(self, users: int, seed: int, max_listens: int, exclude: np.ndarray | None = None) -> ReplaySample:
        sample = draw_sample(self.listens, self.offline, users, seed, max_listens, self.start, exclude)
        logger.info("replay sample: %d users (%d with offline recommendations, %d cold), %d test listens "
                    "from %s", len(sample), int(sample.has_offline.sum()), int((~sample.has_offline).sum()),
                    sample.listens, self.start)
        return sample


def load_sample(
    folder: Path, users: int, seed: int, max_listens: int, test_start: date | None = None
) -> ReplaySample:
    """Read the artifact set in `folder` and draw the replay sample from its test period."""
    return EvaluationPeriod(folder, test_start).draw(users, seed, max_listens)
