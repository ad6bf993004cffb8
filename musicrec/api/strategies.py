"""The four answers of the recommendations service, in one table: name, route and recommender call.

The name is what metrics label an answer with, what the exposure log records and what the replay
reports; the route is the course API's path; `ask` is the `Recommender` method that makes the answer.
The service's handlers, the replay's HTTP target and its in-process target all read this table, so a
strategy is named, routed and answered the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from musicrec.serving.recommender import Answer, Recommender
from musicrec.serving.selection import NO_OPTIONS, ListOptions

Ask = Callable[[Recommender, int, int, ListOptions], Awaitable[Answer]]


@dataclass(frozen=True)
class Strategy:
    """One kind of answer: `personal` ones take the user's id, the default list takes none."""

    name: str
    path: str
    personal: bool
    call: Ask

    async def ask(self, recommender: Recommender, user_id: int, k: int,
                  options: ListOptions = NO_OPTIONS) -> Answer:
        """This strategy's answer for the user (the user is ignored by the default list)."""
        return await self.call(recommender, user_id, k, options)


async def _default(recommender: Recommender, _user_id: int, k: int, options: ListOptions) -> Answer:
    return recommender.default(k, options)


async def _offline(recommender: Recommender, user_id: int, k: int, options: ListOptions) -> Answer:
    return await recommender.offline(user_id, k, options)


async def _online(recommender: Recommender, user_id: int, k: int, options: ListOptions) -> Answer:
    return await recommender.online(user_id, k, options)


async def _blended(recommender: Recommender, user_id: int, k: int, options: ListOptions) -> Answer:
    return await recommender.blended(user_id, k, options)


DEFAULT = Strategy("default", "/recommendations_default", personal=False, call=_default)
OFFLINE = Strategy("offline", "/recommendations_offline", personal=True, call=_offline)
ONLINE = Strategy("online", "/recommendations_online", personal=True, call=_online)
BLENDED = Strategy("blended", "/recommendations", personal=True, call=_blended)

STRATEGIES: dict[str, Strategy] = {strategy.name: strategy for strategy in (DEFAULT, OFFLINE, ONLINE, BLENDED)}


def strategy_named(name: str) -> Strategy:
    """The strategy called `name`, or a ValueError naming the known ones."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(STRATEGIES)}") from None
