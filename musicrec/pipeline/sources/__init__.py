"""The candidate sources, by name: the one place a new source is registered."""

from __future__ import annotations

from musicrec.pipeline.sources.als import AlsSource
from musicrec.pipeline.sources.artist import ArtistSource
from musicrec.pipeline.sources.base import CandidateSource, SourceContext
from musicrec.pipeline.sources.ease import EaseSource
from musicrec.pipeline.sources.itemknn import ItemKnnSource
from musicrec.pipeline.sources.popular import PopularSource
from musicrec.settings import PipelineSettings

SOURCES: dict[str, type[CandidateSource]] = {
    source.name: source for source in (AlsSource, ItemKnnSource, EaseSource, PopularSource, ArtistSource)
}


def chosen_sources(settings: PipelineSettings) -> dict[str, type[CandidateSource]]:
    """The sources `[pipeline] sources` names (checked when settings load), in that order; popular
    always among them (the floor every list is compared with)."""
    names = list(dict.fromkeys([*settings.sources, "popular"]))
    return {name: SOURCES[name] for name in names}


__all__ = ["SOURCES", "CandidateSource", "SourceContext", "chosen_sources"]
