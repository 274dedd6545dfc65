"""Assembly: the one place that builds a run from a config and a mode (see :mod:`amm500.runs.session`)."""
