"""numerics: numerical validation of modified equations (trajectory agreement)."""
