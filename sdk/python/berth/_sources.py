"""The component's own sources, handed over by the host at instantiation.

berth's Python runtime is one WebAssembly component, built once per berth
version, that carries CPython, the standard library and this SDK. The code
of a Python component is data: the first lifecycle call asks the host for
the component's files (`berth:python-runtime/sources`), puts an import hook
in front of `sys.meta_path` that serves them, and imports `component`,
which registers the roots. Nothing is read from a filesystem: the runtime
has none.

Every module is compiled under the name its author knows
(`components/db/component.py`), so a traceback points at the real file and
line, and the source lines show in it.
"""

import linecache
import sys
from importlib.machinery import ModuleSpec

from wit_world.imports import sources as _sources

# Where modules are looked for, in order: the component's folder, then the
# third-party dependencies bundled with it.
_ROOTS = ("", "site-packages/")

# The module that defines the component's roots.
ENTRY = "component"

_state = {"origin": None, "loaded": False}


class _Loader:
    """Finds and runs the modules of the component's files."""

    def __init__(self, origin, files):
        self.origin = origin
        self.files = files

    def shown(self, path):
        """The file name tracebacks show for `path`."""
        return "{}/{}".format(self.origin, path) if self.origin else path

    def _locate(self, fullname):
        rel = fullname.replace(".", "/")
        for root in _ROOTS:
            for path, package in (("{}{}/__init__.py".format(root, rel), True),
                                  ("{}{}.py".format(root, rel), False)):
                if path in self.files:
                    return path, package
        return None

    # importlib's finder protocol
    def find_spec(self, fullname, path=None, target=None):
        found = self._locate(fullname)
        if found is None:
            return None
        rel, package = found
        spec = ModuleSpec(fullname, self, origin=self.shown(rel), is_package=package)
        spec.has_location = True
        if package:
            spec.submodule_search_locations = [self.shown(rel.rsplit("/", 1)[0])]
        spec.loader_state = rel
        return spec

    # importlib's loader protocol
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        rel = module.__spec__.loader_state
        shown = self.shown(rel)
        source = self.files[rel].decode("utf-8")
        # Tracebacks read source lines through linecache; there is no file
        # to read them from, so they are put there (no mtime: never stale).
        linecache.cache[shown] = (len(source), None, source.splitlines(True), shown)
        code = compile(source, shown, "exec", dont_inherit=True)
        exec(code, module.__dict__)

    def get_source(self, fullname):
        found = self._locate(fullname)
        return None if found is None else self.files[found[0]].decode("utf-8")


def origin():
    """The component's folder as tracebacks show it, once loaded."""
    return _state["origin"]


def load():
    """Import the component's `component.py` from the host's sources, once
    per instance. Exceptions (a syntax error, a failing import) propagate
    with their traceback into the user's files."""
    if _state["loaded"]:
        return
    origin = _sources.origin()
    files = {f.path: bytes(f.content) for f in _sources.files()}
    _state["origin"] = origin
    if "{}.py".format(ENTRY) not in files:
        from ._errors import NotFound

        raise NotFound("`{}` has no `{}.py`".format(origin or "the component", ENTRY))
    loader = _Loader(origin, files)
    sys.meta_path.insert(0, loader)
    try:
        __import__(ENTRY)
    except BaseException:
        sys.meta_path.remove(loader)
        sys.modules.pop(ENTRY, None)
        raise
    _state["loaded"] = True


def where(exception):
    """`file:line` of the innermost frame of `exception`'s traceback that
    is in the component's own files, or None."""
    prefix = "{}/".format(_state["origin"]) if _state["origin"] else None
    found = None
    tb = exception.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if prefix is not None and name.startswith(prefix):
            found = "{}:{}".format(name, tb.tb_lineno)
        tb = tb.tb_next
    if found is None and isinstance(exception, SyntaxError) and exception.filename:
        found = "{}:{}".format(exception.filename, exception.lineno)
    return found
