"""`modelbay`: the command-line client of a Modelbay site.

A plain HTTP client of the public API (requests + rich): it imports no Django and nothing of the
server's apps (.importlinter keeps it so), so `pip install modelbay` without the convert extra is
enough to push models, call them and read usage.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
