"""The serving benchmark's artifact generator keeps the artifact contract at any size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from bench.synthetic_artifacts import generate
from musicrec import schema
from musicrec.artifacts import verify_artifact_set

SCHEMAS = {
    schema.RECOMMENDATIONS_FILE: schema.RECOMMENDATIONS_SCHEMA,
    schema.SIMILAR_FILE: schema.SIMILAR_SCHEMA,
    schema.TOP_POPULAR_FILE: schema.TOP_POPULAR_SCHEMA,
    schema.ITEMS_FILE: schema.ITEMS_SCHEMA,
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic")
    # 250_000 users: more than one chunk of users, so chunk boundaries are covered
    generate(out, users=250_000, items=3_000, similar_items=2_000, recommendations=5, similar=4, top=20)
    return out


def test_files_have_the_contract_schemas_rows_and_a_valid_manifest(folder: Path) -> None:
    for name, expected in SCHEMAS.items():
        assert pq.read_schema(folder / name).equals(expected), name
    manifest = verify_artifact_set(folder, SCHEMAS)
    assert manifest is not None
    assert {name: manifest["files"][name]["rows"] for name in SCHEMAS} == {
        schema.RECOMMENDATIONS_FILE: 1_250_000, schema.SIMILAR_FILE: 8_000,
        schema.TOP_POPULAR_FILE: 20, schema.ITEMS_FILE: 3_000}


def test_recommendations_are_sorted_distinct_known_and_fall_with_rank(folder: Path) -> None:
    table = pq.read_table(folder / schema.RECOMMENDATIONS_FILE)
    users = table[schema.USER_ID].to_numpy().reshape(-1, 5)
    items = table[schema.ITEM_ID].to_numpy().reshape(-1, 5)
    scores = table[schema.SCORE].to_numpy().reshape(-1, 5)
    assert (users == np.arange(250_000)[:, None]).all()
    assert (table[schema.RANK].to_numpy().reshape(-1, 5) == np.arange(1, 6)).all()
    assert (np.diff(scores, axis=1) < 0).all()
    assert (np.diff(np.sort(items, axis=1), axis=1) > 0).all()  # no repeats within a user
    known = pq.read_table(folder / schema.ITEMS_FILE)[schema.ITEM_ID].to_numpy()
    assert np.isin(items, known).all()


def test_similar_has_no_self_pairs_and_is_sorted(folder: Path) -> None:
    table = pq.read_table(folder / schema.SIMILAR_FILE)
    sources = table[schema.ITEM_ID_1].to_numpy().reshape(-1, 4)
    neighbours = table[schema.ITEM_ID_2].to_numpy().reshape(-1, 4)
    assert (sources == sources[:, :1]).all() and (np.diff(sources[:, 0]) > 0).all()
    assert not (sources == neighbours).any()
    assert (np.diff(np.sort(neighbours, axis=1), axis=1) > 0).all()
    assert (np.diff(table[schema.SCORE].to_numpy().reshape(-1, 4), axis=1) < 0).all()


def test_the_same_seed_gives_the_same_files(folder: Path, tmp_path: Path) -> None:
    generate(tmp_path, users=250_000, items=3_000, similar_items=2_000, recommendations=5, similar=4, top=20,
             manifest=False)
    for name in SCHEMAS:
        assert pq.read_table(tmp_path / name).equals(pq.read_table(folder / name)), name
