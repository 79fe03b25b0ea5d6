"""Small vectorised helpers over columns that pandas is slow at for millions of strings."""

from __future__ import annotations

import numpy as np
import pandas as pd


def isin(values: pd.Series | np.ndarray, universe) -> np.ndarray:
    """Boolean mask: which ``values`` occur in ``universe`` (hash-based, via Arrow).

    ``Series.isin`` on Arrow-backed strings loops in Python; this does not. Missing values
    are never members.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    left = pa.array(pd.Series(values).to_numpy(dtype=object), from_pandas=True)
    right = pa.array(
        pd.Series(list(universe) if isinstance(universe, (set, frozenset)) else universe).to_numpy(
            dtype=object
        ),
        from_pandas=True,
    )
    if left.type != right.type:
        left, right = left.cast(pa.string()), right.cast(pa.string())
    mask = pc.is_in(left, value_set=right, skip_nulls=True)
    return mask.fill_null(False).to_numpy(zero_copy_only=False)
