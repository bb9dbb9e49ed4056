"""Programs, run without a shell, only when granted.

Refused in configure; in verify a program runs confined to read-only access.
"""

from dataclasses import dataclass

from wit_world.imports import process as _process

from ._errors import Failed, Invalid, call


@dataclass
class Output:
    """What a finished program left behind."""

    argv: list
    status: int
    """The exit status; -1 when the program was killed by a signal."""
    stdout: bytes
    stderr: bytes

    @property
    def ok(self):
        """Whether the program exited with status 0."""
        return self.status == 0

    @property
    def text(self):
        """Standard output, decoded as UTF-8."""
        return self.stdout.decode("utf-8", "replace")


def run(argv, cwd=None, stdin=None, check=False):
    """Run a program and wait for it.

    `argv` is the program (a granted name or absolute path) and its
    arguments; `cwd` is relative to the workdir; `stdin` is bytes or str.
    A non-zero exit is reported in `Output.status`, or raised as `Failed`
    when `check` is true.
    """
    if isinstance(argv, (str, bytes)):
        raise Invalid(
            "`argv` of process.run must be a list of strings, not the string {!r}: "
            "write [{!r}]".format(argv, argv)
        )
    argv = [str(a) for a in argv]
    if isinstance(stdin, str):
        stdin = stdin.encode("utf-8")
    out = call(_process.run, _process.Command(argv, cwd, stdin))
    output = Output(argv, out.status, out.stdout, out.stderr)
    if check and not output.ok:
        raise Failed(
            "`{}` exited with status {}: {}".format(
                " ".join(argv), output.status, output.stderr.decode("utf-8", "replace").strip()
            )
        )
    return output
