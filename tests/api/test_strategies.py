"""The strategy table: every recommendation route of the service is in it, and each entry's call
makes the answer of the recommender method the route calls."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.routing import APIRoute

from musicrec.api import recommendations_app
from musicrec.api.strategies import STRATEGIES, strategy_named
from musicrec.serving.recommender import Answer


def test_the_table_holds_exactly_the_service_recommendation_routes() -> None:
    paths = {route.path for route in recommendations_app.router.routes
             if isinstance(route, APIRoute) and route.path.startswith("/recommendations")}
    assert paths == {strategy.path for strategy in STRATEGIES.values()}


class Recorder:
    """A stand-in recommender that says which method was called, with what."""

    def default(self, k: int, options: object) -> Answer:
        return Answer(recs=[k])

    async def offline(self, user_id: int, k: int, options: object) -> Answer:
        return Answer(recs=[1, user_id, k])

    async def online(self, user_id: int, k: int, options: object) -> Answer:
        return Answer(recs=[2, user_id, k])

    async def blended(self, user_id: int, k: int, options: object) -> Answer:
        return Answer(recs=[3, user_id, k])


@pytest.mark.parametrize(("name", "recs"), [("default", [5]), ("offline", [1, 7, 5]), ("online", [2, 7, 5]),
                                            ("blended", [3, 7, 5])])
def test_each_strategy_asks_its_own_method(name: str, recs: list[int]) -> None:
    answer = asyncio.run(strategy_named(name).ask(Recorder(), 7, 5))  # type: ignore[arg-type]
    assert answer.recs == recs


def test_an_unknown_strategy_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="default, offline, online, blended"):
        strategy_named("random")
