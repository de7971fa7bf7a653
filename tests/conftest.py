"""Shared test configuration: float64 in JAX, a hypothesis profile for exact algebra."""

from hypothesis import settings

try:
    import jax
except ImportError:  # pragma: no cover - JAX is optional for the symbolic tests
    pass
else:
    jax.config.update("jax_enable_x64", True)

# Exact rational arithmetic has no use for deadlines; 30 examples keep the suite fast.
settings.register_profile("bea", deadline=None, max_examples=30)
settings.load_profile("bea")
