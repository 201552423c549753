"""Average-linkage hierarchical clustering of tasks on a distance matrix: the one home of the clustering that orders
the routing similarity (notebook 08) and the task affinity (notebook 10) and cuts the affinity into groups."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform


def average_linkage(distance: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """The leaf order and the linkage matrix of average-linkage clustering on ``distance`` (tasks x tasks; negative
    and missing distances count as 0 and the largest off-diagonal distance, the diagonal as 0, and the matrix is
    symmetrised)."""
    d = distance.to_numpy(float).copy()
    off = ~np.eye(len(d), dtype=bool)
    fill = np.nanmax(d[off]) if off.any() and np.isfinite(d[off]).any() else 0.0
    d = np.nan_to_num(np.clip(d, 0.0, None), nan=fill)
    np.fill_diagonal(d, 0.0)
    z = linkage(squareform((d + d.T) / 2, checks=False), method="average")
    return [distance.index[i] for i in leaves_list(z)], z
