"""The `lifecycle` export, built from the roots registered with `export`."""

import json
import traceback

from wit_world.imports import types as _t

from . import _KINDS, _PACKAGE, _ROOTS, Attribute, Component, Error, Invalid, NotFound
from . import UpdateNeeded, _Builder, _sources, log
from ._errors import to_err


def _root(name):
    for root in _ROOTS:
        if root.name == name:
            return root
    raise NotFound(
        "package `{}` has no component `{}` (it has {})".format(
            _PACKAGE.get("name", "?"), name, ", ".join("`{}`".format(r.name) for r in _ROOTS)
        )
    )


def _guarded(what, function, *args):
    """Load the component's sources (once), then run guest code; every
    exception crosses the boundary as an error that names the component's
    file and line it came from."""
    try:
        _sources.load()
        return function(*args)
    except Error as e:
        raise to_err(e) from None
    except Exception as e:  # noqa: BLE001 - everything must become an error
        log.error("{}: {}".format(what, "".join(traceback.format_exception(e)).rstrip()))
        at = _sources.where(e)
        message = "{}: {}: {}".format(what, type(e).__name__, e)
        if at is not None:
            message = "{} (at {})".format(message, at)
        raise to_err(Error(message)) from None


def _attributes(root):
    decls = []
    for klass in reversed(root.__mro__):
        for key, value in vars(klass).items():
            if isinstance(value, Attribute):
                decls = [d for d in decls if d.name != key]
                decls.append(value._decl(root.name))
    return decls


def _describe():
    roots = []
    for root in _ROOTS:
        needs = root.needs._wit() if root.needs is not None else _t.Needs([], [])
        roots.append(_t.RootDescription(root.name, root.doc or "", _attributes(root), needs))
    return _t.Description(_PACKAGE["name"], _PACKAGE["version"], roots)


def _configure(component):
    root = _root(component)()
    builder = _Builder()
    builder.add(None, root)
    return builder.steps


def _instance(step, context):
    cls = _KINDS.get(step.kind)
    if cls is None:
        raise Invalid(
            "component `{}` has no custom step `{}`".format(context.component, step.kind)
        )
    try:
        data = json.loads(step.data)
    except ValueError as e:
        raise Invalid("the data of step `{}` is not JSON: {}".format(step.kind, e)) from None
    if cls in _ROOTS:
        instance = cls()
    else:
        instance = cls(**data)
    instance.children_changed = context.children_changed
    return instance


def _verify(step, context):
    instance = _instance(step, context)
    try:
        reason = instance.verify()
    except UpdateNeeded as e:
        return _t.Verdict_NeedsUpdate(e.reason)
    if reason:
        return _t.Verdict_NeedsUpdate(str(reason))
    return _t.Verdict_UpToDate()


def _update(step, context):
    _instance(step, context).update()


class Lifecycle:
    """The `lifecycle` export that componentize-py looks for."""

    def describe(self):
        return _guarded("describe", _describe)

    def configure(self, component):
        return _guarded("configure", _configure, component)

    def verify(self, step, context):
        return _guarded("verify of `{}`".format(step.kind), _verify, step, context)

    def update(self, step, context):
        return _guarded("update of `{}`".format(step.kind), _update, step, context)
