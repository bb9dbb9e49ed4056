"""The module componentize-py builds berth's Python runtime from.

It imports the SDK and the standard library modules components use most,
at build time: componentize-py pre-initializes the interpreter with them
loaded, so an instance starts ready. A component's own sources are not
here: `berth._sources` imports them from the host at instantiation.
"""

import json  # noqa: F401 - pre-initialized for components
import linecache  # noqa: F401
import traceback  # noqa: F401

import berth  # noqa: F401 - the SDK, ready at start
from berth import _sources  # noqa: F401
from berth._lifecycle import Lifecycle  # noqa: F401 - the export

__all__ = ["Lifecycle"]
