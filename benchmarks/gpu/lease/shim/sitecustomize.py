"""Only for the lent GPU machine (benchmarks/gpu/lease), never part of the package.

Its image holds numpy >= 2 and scipy >= 1.12 and no package registry, so setup.py's pins cannot be
installed there. RecBole 1.2.1 needs three names those releases removed: ``np.float_``, ``np.complex_`` and
``np.unicode_`` (its Config aliases them) and ``dok_matrix._update`` (LightGCN's adjacency matrix).
"""
import numpy as np

for name, alias in (("float_", np.float64), ("complex_", np.complex128), ("unicode_", np.str_)):
    if name not in np.__dict__:
        setattr(np, name, alias)
try:
    import scipy.sparse as sp

    if not hasattr(sp.dok_matrix, "_update"):
        sp.dok_matrix._update = lambda self, entries: self._dict.update(entries)
except ImportError:
    pass
