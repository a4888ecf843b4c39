"""Dataset converters: raw and processed recommendation datasets -> RecBole atomic files.

Command line::

    python -m recbole_hnlm.data.convert <format> --input ... --output atomic_data/<ds> [--preset ...]

From Python::

    from recbole_hnlm.data.convert import convert
    summary = convert("amazon2018", "Toys_and_Games.json.gz", "atomic_data/toys",
                      meta="meta_Toys_and_Games.json.gz", preset="toys")

One module per source format (:mod:`.amazon` for 2014/2018, :mod:`.amazon2023`, :mod:`.yelp`,
:mod:`.unisrec`, :mod:`.p5`, :mod:`.lightgcn`, :mod:`.movielens`, :mod:`.atomic_passthrough`);
shared filters in :mod:`.filters`, the paper's presets in :mod:`.presets`, output in :mod:`.output`.
"""
from .errors import ConvertError
from .filters import FilterSpec
from .formats import FORMATS
from .pipeline import convert
from .presets import PRESETS

__all__ = ["ConvertError", "FilterSpec", "FORMATS", "PRESETS", "convert"]
