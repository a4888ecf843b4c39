"""The registry of source formats: name -> factory ``(Inputs, LineReader) -> Source``."""
from .amazon import Amazon2014Source, AmazonSource
from .amazon2023 import Amazon2023Source
from .atomic_passthrough import AtomicSource
from .errors import ConvertError
from .lightgcn import LightGCNSource
from .movielens import movielens_source
from .p5 import P5Source
from .unisrec import UniSRecSource
from .yelp import YelpSource

FORMATS = {
    "amazon2014": (Amazon2014Source, Amazon2014Source.description),
    "amazon2018": (AmazonSource, AmazonSource.description),
    "amazon2023": (Amazon2023Source, Amazon2023Source.description),
    "yelp": (YelpSource, YelpSource.description),
    "unisrec": (UniSRecSource, UniSRecSource.description),
    "p5": (P5Source, P5Source.description),
    "lightgcn": (LightGCNSource, LightGCNSource.description),
    "movielens": (movielens_source, "MovieLens folder: ml-100k (u.data ...), ml-1m (ratings.dat ...) or RecBole atomic"),
    "atomic": (AtomicSource, AtomicSource.description),
}


def make_source(fmt, inputs, reader):
    """The :class:`~.base.Source` for format ``fmt``; an unknown name is a :class:`ConvertError`."""
    try:
        factory, _ = FORMATS[fmt]
    except KeyError:
        raise ConvertError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}") from None
    source = factory(inputs, reader)
    source.prepare()
    return source
