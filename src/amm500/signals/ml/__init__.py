"""Volatility forecasting (seed section 3): 1-minute dataset, VolatilityLSTM, baselines, predictor.

Only ``model`` and ``train`` import torch; the rest, and this package, import without it.
"""

from __future__ import annotations


class ModelError(ValueError):
    """A model file that cannot be used with this data (missing, unreadable, other features)."""
