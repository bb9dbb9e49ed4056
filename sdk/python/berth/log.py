"""Messages for the operator, attributed to the current component.

`print` works too: berth writes a component's standard output to the log at
info level and its standard error at warn level.
"""

from wit_world.imports import log as _log
from wit_world.imports import types as _t


def _write(level, message):
    _log.write(level, str(message))


def trace(message):
    """Write a trace line."""
    _write(_t.LogLevel.TRACE, message)


def debug(message):
    """Write a debug line."""
    _write(_t.LogLevel.DEBUG, message)


def info(message):
    """Write an info line."""
    _write(_t.LogLevel.INFO, message)


def warn(message):
    """Write a warning."""
    _write(_t.LogLevel.WARN, message)


def error(message):
    """Write an error line."""
    _write(_t.LogLevel.ERROR, message)
