"""Typed errors, and their conversion to and from the WIT `error` variant."""

from wit_world.imports import types as _t
from componentize_py_types import Err


class Error(Exception):
    """A failure reported by berth or by the component.

    The message should name the exact request that failed (the path, the
    program, the attribute), so that it can be shown to an operator as is.
    """

    def __init__(self, message):
        super().__init__(message)
        self.message = str(message)

    def __str__(self):
        return self.message


class Denied(Error):
    """The request is outside what the environment granted."""


class NotFound(Error):
    """The thing asked for does not exist."""


class Invalid(Error):
    """The request itself is malformed (bad path, bad JSON, wrong phase)."""


class IoError(Error):
    """The operating system reported an error."""


class Failed(Error):
    """Anything else: the operation ran and did not succeed."""


_FROM_WIT = {
    _t.Error_Denied: Denied,
    _t.Error_NotFound: NotFound,
    _t.Error_Invalid: Invalid,
    _t.Error_Io: IoError,
    _t.Error_Failed: Failed,
}

_TO_WIT = {
    Denied: _t.Error_Denied,
    NotFound: _t.Error_NotFound,
    Invalid: _t.Error_Invalid,
    IoError: _t.Error_Io,
    Failed: _t.Error_Failed,
}


def from_err(err):
    """The berth error for an `Err` raised by an import."""
    value = err.value
    cls = _FROM_WIT.get(type(value), Failed)
    return cls(getattr(value, "value", str(value)))


def call(function, *args):
    """Call an import, turning its `Err` into a typed berth error."""
    try:
        return function(*args)
    except Err as err:
        raise from_err(err) from None


def to_err(error):
    """The `Err` that carries a berth error across the boundary."""
    return Err(_TO_WIT.get(type(error), _t.Error_Failed)(error.message))
