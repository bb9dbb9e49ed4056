"""The module `berth build` hands to componentize-py.

It imports the package's `component.py` (which registers its roots with
`berth.export`) and exposes the `Lifecycle` export. componentize-py runs
this import at build time, so a component starts with its module loaded.
"""

import component  # noqa: F401 - registers the roots
from berth._lifecycle import Lifecycle  # noqa: F401 - the export

__all__ = ["Lifecycle"]
