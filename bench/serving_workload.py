"""What the serving benchmark asks: full-size artifacts (cached), id mixes, and users with listens.

The synthetic artifacts have users 0..N-1 and sparse track ids; which ids a request names does not
change the cost of a lookup, but whether it is known does (an unknown user takes the top-popular
path), so the mixes say how many are known. Blended recommendations only do their full work for a
user with recent listens, so those users get some through the real `/put` first.
"""

from __future__ import annotations

import logging
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.serving_measure import Endpoint
from bench.synthetic_artifacts import generate
from musicrec import schema
from musicrec.api.wire import INT32_MAX
from musicrec.serving.index_files import INDEX_FORMAT

logger = logging.getLogger("bench.serving")
SIMILAR_SHARE = 0.96  # of catalogue tracks that have similar tracks, as in the real data
POOL_SIZE = 100_000  # ids per mix file: wrk draws from it, so repeats are rare
PUT_THREADS = 4
LISTENS_PER_USER = 3
REC_HEALTH, FEATURES_HEALTH = "recommendations /health", "features /health"


def cached_artifacts(cache: Path, users: int, items: int, seed: int) -> Path:
    """Full-size artifacts for these parameters, generated once and reused: a complete folder is
    renamed into place only at the end, so an interrupted run never leaves a half set to reuse."""
    folder = cache / f"users{users}-items{items}-seed{seed}-index{INDEX_FORMAT}"
    if folder.is_dir():
        logger.info("reusing artifacts in %s", folder)
        return folder
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    started = time.perf_counter()
    logger.info("generating full-size artifacts into %s (about a minute)", folder)
    generate(partial, users=users, items=round(items / SIMILAR_SHARE), similar_items=items, seed=seed)
    partial.rename(folder)
    logger.info("artifacts generated in %.0f s", time.perf_counter() - started)
    return folder


def tracks_with_similar(artifacts: Path) -> np.ndarray:
    """The tracks the features service knows (item_id_1 of similar.parquet)."""
    column = pq.read_table(artifacts / schema.SIMILAR_FILE, columns=[schema.ITEM_ID_1]).column(0)
    return pc.unique(column).to_numpy()


def mix(rng: np.random.Generator, known: np.ndarray, unknown_low: int, unknown_share: float) -> np.ndarray:
    """POOL_SIZE ids: drawn from `known`, except `unknown_share` of them from ids above `unknown_low`."""
    ids = rng.choice(known, size=POOL_SIZE)
    unknown = rng.random(POOL_SIZE) < unknown_share
    ids[unknown] = rng.integers(unknown_low, min(unknown_low * 2, INT32_MAX), size=int(unknown.sum()))
    return ids


def write_ids(path: Path, ids: np.ndarray) -> Path:
    np.savetxt(path, ids, fmt="%d")
    return path


def put_listens(events_url: str, users: np.ndarray, tracks: np.ndarray, per_user: int,
                rng: np.random.Generator, headers: dict[str, str]) -> None:
    """Give each user `per_user` listens of random `tracks` through the events service's real `/put`
    (`headers`: the API key when one is set)."""
    pairs = list(zip(np.repeat(users, per_user).tolist(), rng.choice(tracks, len(users) * per_user).tolist()))
    started = time.perf_counter()
    with httpx.Client(base_url=events_url, timeout=10.0, headers=headers) as client:

        def put(pair: tuple[int, int]) -> None:
            response = client.post("/put", params={schema.USER_ID: pair[0], schema.ITEM_ID: pair[1]})
            response.raise_for_status()

        with ThreadPoolExecutor(PUT_THREADS) as pool:
            list(pool.map(put, pairs))
    logger.info("put %d listens for %d users in %.1f s", len(pairs), len(users),
                time.perf_counter() - started)


def give_listens(events_url: str, users: int, listeners: int, tracks: np.ndarray, per_user: int,
                 seed: int, headers: dict[str, str]) -> np.ndarray:
    """`listeners` known users, each given `per_user` listens of tracks that have similar tracks, so
    online and blended answers do their full work (events, then features) for them."""
    rng = np.random.default_rng(seed)
    listener_ids = rng.choice(users, size=listeners, replace=False)
    put_listens(events_url, listener_ids, tracks, per_user, rng, headers)
    return listener_ids


def check_blended_works(recommendations_url: str, user_id: int) -> None:
    """Before measuring: a user with listens gets a full, non-degraded blended answer and an online one."""
    params = {schema.USER_ID: user_id}
    blended = httpx.get(f"{recommendations_url}/recommendations", params=params).json()
    online = httpx.get(f"{recommendations_url}/recommendations_online", params=params).json()
    if blended.get("degraded") or not blended.get("recs") or not online.get("recs"):
        raise RuntimeError(f"blended/online answers for user {user_id} are not what the benchmark needs: "
                           f"{blended}, {online}")


def endpoints(work: Path, users: int, tracks: np.ndarray, listener_ids: np.ndarray, per_user: int,
              unknown_share: float, seed: int) -> list[Endpoint]:
    """The rows to measure, with their id mixes written where wrk reads them; targets from issue 4."""
    rng = np.random.default_rng(seed + 1)
    known = f"{1 - unknown_share:.0%} known"
    user_mix = write_ids(work / "users.txt", mix(rng, np.arange(users), users, unknown_share))
    track_mix = write_ids(work / "items.txt", mix(rng, tracks, int(tracks.max()) + 1, unknown_share))
    listeners = write_ids(work / "listeners.txt", listener_ids)
    with_listens = f"{len(listener_ids)} users with {per_user} listens"
    user, item = schema.USER_ID, schema.ITEM_ID
    return [
        Endpoint(REC_HEALTH, "recommendations", "/health"),
        Endpoint("/recommendations_offline", "recommendations", f"/recommendations_offline?{user}=",
                 user_mix, f"users, {known}", REC_HEALTH, 0.70),
        Endpoint("/recommendations (blended)", "recommendations", f"/recommendations?{user}=",
                 listeners, with_listens, REC_HEALTH, 0.25),
        Endpoint("/recommendations_online", "recommendations", f"/recommendations_online?{user}=",
                 listeners, with_listens, REC_HEALTH),
        Endpoint("/recommendations_default", "recommendations", "/recommendations_default",
                 ceiling=REC_HEALTH),
        Endpoint(FEATURES_HEALTH, "features", "/health"),
        Endpoint("/similar_items", "features", f"/similar_items?{item}=", track_mix,
                 f"tracks, {known}", FEATURES_HEALTH),
    ]
