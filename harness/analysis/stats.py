"""Small statistics over repetitions and workers, and the number format of the tables.

jain_index and max_min_ratio measure how evenly requests spread over workers;
confidence_interval is the Student-t interval of a mean (scipy imported on first use).
fmt writes a number for a table; _num, _int and _ids read a value from a hand-made or
stored table. Every other module of harness.analysis builds on these.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness import evidence


def fmt(value: Any, spec: str = ".3g", none: str = "–") -> str:
    """A number for a table: `none` for a missing value (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return none
    return format(value, spec)


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _int(value: Any, default: int) -> int:
    number = _num(value)
    return default if math.isnan(number) else int(number)


def _ids(series: pd.Series) -> pd.Series:
    """An id column as text, "" where empty (ids are read as text; hand-made tables may not be)."""
    return series.astype(object).where(series.notna(), "").astype(str)


def jain_index(counts: Any) -> float:
    """Jain's fairness index: 1 when every worker got the same, 1/n when one got everything."""
    x = np.asarray(list(counts), dtype=float)
    if x.size == 0 or x.sum() == 0:
        return math.nan
    return float(x.sum() ** 2 / (x.size * (x**2).sum()))


def max_min_ratio(counts: Any) -> float:
    x = np.asarray(list(counts), dtype=float)
    if x.size == 0 or x.min() <= 0:
        return math.inf if x.size else math.nan
    return float(x.max() / x.min())


def confidence_interval(values: Any, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean across repetitions; NaNs with fewer than
    evidence.MIN_REPETITIONS values (from 2, t(0.975, 1) = 12.7 makes it useless). The
    report shows evidence.median_interval instead: the bars show medians."""
    x = np.asarray(list(values), dtype=float)
    if x.size < evidence.MIN_REPETITIONS:
        return math.nan, math.nan
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    from scipy import stats  # imported on first use (about a second): many commands compute no interval

    low, high = stats.t.interval(level, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    return float(low), float(high)
