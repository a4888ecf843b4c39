"""Filter presets reproducing the datasets of the HNLMRec paper (its README, "Dataset Information").

| preset | source | rating | dates (UTC, end exclusive) | k-core | paper's #users / #items / #inter |
|---|---|---|---|---|---|
| toys | Amazon 2018 Toys & Games | >= 4 | 2015-01-01 .. 2018-01-01 | 10 | 22,338 / 9,023 / 200,511 |
| cds | Amazon 2018 CDs & Vinyl | >= 4 | 2014-01-01 .. 2016-01-01 | 10 | 19,385 / 8,279 / 186,535 |
| yelp2018 | Yelp Open Dataset | >= 4 | 2015-01-01 .. 2018-01-01 | 10 | 29,832 / 16,781 / 513,976 |
| electronics2023 | Amazon 2023 Electronics | >= 3 | 2010-01-01 .. 2018-01-01 | none | 97,570 / 44,669 / 178,259 |

The paper states no k-core for Electronics 2023 and its counts (about 1.8 interactions per user)
confirm there was none. All presets keep the first of repeated (user, item) interactions.
Command-line filter options override a preset's values.
"""
from dataclasses import dataclass, field

from .filters import FilterSpec


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    formats: tuple
    filters: dict = field(default_factory=dict)
    paper_stats: dict = field(default_factory=dict)

    def spec(self, **overrides):
        """A :class:`FilterSpec` from this preset, with non-``None`` ``overrides`` on top."""
        values = dict(self.filters)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return FilterSpec(**values)


def _ten_core(min_rating, start, end):
    return dict(min_rating=min_rating, start_date=start, end_date=end,
                min_user_inter=10, min_item_inter=10, dedup="first")


PRESETS = {
    p.name: p
    for p in (
        Preset("toys", "Amazon 2018 Toys & Games", ("amazon2018", "amazon2014"),
               _ten_core(4.0, "2015-01-01", "2018-01-01"),
               dict(users=22338, items=9023, interactions=200511)),
        Preset("cds", "Amazon 2018 CDs & Vinyl", ("amazon2018", "amazon2014"),
               _ten_core(4.0, "2014-01-01", "2016-01-01"),
               dict(users=19385, items=8279, interactions=186535)),
        Preset("yelp2018", "Yelp Open Dataset", ("yelp",),
               _ten_core(4.0, "2015-01-01", "2018-01-01"),
               dict(users=29832, items=16781, interactions=513976)),
        Preset("electronics2023", "Amazon Reviews 2023 Electronics", ("amazon2023",),
               dict(min_rating=3.0, start_date="2010-01-01", end_date="2018-01-01", dedup="first"),
               dict(users=97570, items=44669, interactions=178259)),
    )
}
