"""Internal package; the public API is re-exported by ``bea``."""
