"""Shared test configuration: float64 in JAX, a hypothesis profile for exact algebra."""

import os
import tempfile

from hypothesis import settings

# Derivations are cached on disk; tests use a fresh directory so that no earlier
# run's results are read back.
os.environ.setdefault("BEA_CACHE_DIR", tempfile.mkdtemp(prefix="bea-cache-tests-"))
# Likewise JAX's persistent compilation cache (numerics._compile): a fresh folder per run.
os.environ.setdefault("BEA_JAX_CACHE_DIR", tempfile.mkdtemp(prefix="bea-jax-cache-tests-"))

try:
    import jax
except ImportError:  # pragma: no cover - JAX is optional for the symbolic tests
    pass
else:
    jax.config.update("jax_enable_x64", True)

# Exact rational arithmetic has no use for deadlines; 30 examples keep the suite fast.
settings.register_profile("bea", deadline=None, max_examples=30)
settings.load_profile("bea")
