"""The filesystem, confined to the granted paths.

Relative paths are relative to the workdir; absolute paths must lie inside a
granted path. Writes are refused in configure and verify. Every function
raises a `berth.Error` subclass (`Denied`, `NotFound`, `Invalid`, `IoError`,
`Failed`) naming the path when berth refuses or the system fails.

Python's own `open()` sees no files at all: the WASI context is empty.
"""

from dataclasses import dataclass

from wit_world.imports import fs as _fs

from ._errors import call


@dataclass
class Stat:
    """Metadata of a filesystem entry."""

    kind: str
    """`file`, `directory`, `symlink` or `other`."""
    size: int
    mode: int


_KINDS = {
    _fs.FileKind.FILE: "file",
    _fs.FileKind.DIRECTORY: "directory",
    _fs.FileKind.SYMLINK: "symlink",
    _fs.FileKind.OTHER: "other",
}


def read(path):
    """The whole content of a file, as bytes."""
    return call(_fs.read, path)


def read_text(path, encoding="utf-8"):
    """The whole content of a file, decoded."""
    return read(path).decode(encoding)


def write(path, content, mode=None):
    """Replace a file's content atomically; `content` is bytes or str."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    call(_fs.write, path, bytes(content), mode)


def stat(path):
    """A `Stat` of the entry, or None when it does not exist."""
    info = call(_fs.stat, path)
    if info is None:
        return None
    return Stat(_KINDS.get(info.kind, "other"), info.size, info.mode)


def exists(path):
    """Whether the entry exists (a symlink is not followed)."""
    return stat(path) is not None


def listdir(path="."):
    """The names of a directory's entries, sorted."""
    return call(_fs.list, path)


def mkdir(path, leading=False):
    """Create a directory, and its parents when `leading` is true."""
    call(_fs.mkdir, path, leading)


def remove(path):
    """Remove a file, a symlink or a whole directory tree."""
    call(_fs.remove, path)


def symlink(path, target):
    """Create a symbolic link at `path` pointing to `target`."""
    call(_fs.symlink, path, target)


def chmod(path, mode):
    """Change an entry's permission bits."""
    call(_fs.chmod, path, mode)
