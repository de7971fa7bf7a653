"""The ``bea`` command line (``python -m bea.cli`` or the ``bea`` script)."""

from ._main import main as main
