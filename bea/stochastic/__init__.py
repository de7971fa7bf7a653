"""Stochastic modified equations: the SDE a stochastic optimizer follows in the weak sense."""
