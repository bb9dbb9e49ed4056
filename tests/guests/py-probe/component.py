"""`py-probe`: a Python test guest that tries to leave its sandbox and writes
what happened to `report.json` in its workdir (see `tests/tests/all/python.rs`)."""

import json
import os

import berth
from berth import Component, UpdateNeeded, fs


def attempt(what, function):
    try:
        result = function()
    except berth.Error as e:
        return {"what": what, "error": type(e).__name__, "message": e.message}
    except Exception as e:  # noqa: BLE001 - report every way it can fail
        return {"what": what, "error": type(e).__name__, "message": str(e)}
    if isinstance(result, bytes):
        result = result.decode("utf-8", "replace")
    return {"what": what, "ok": result}


def read_passwd():
    with open("/etc/passwd") as f:
        return f.read()


def write_outside():
    with open("/tmp/berth-py-probe-escape", "w") as f:
        f.write("escaped")


class Probe(Component):
    def verify(self):
        if not fs.exists("report.json"):
            raise UpdateNeeded("no report yet")

    def update(self):
        report = [
            attempt("open /etc/passwd", read_passwd),
            attempt("open for writing", write_outside),
            attempt("listdir /", lambda: os.listdir("/")),
            attempt("environ", lambda: dict(os.environ)),
            attempt("fs.read ../x", lambda: fs.read("../x")),
            attempt("fs.read /etc/passwd", lambda: fs.read("/etc/passwd")),
            attempt("fs.write ../escape.txt", lambda: fs.write("../escape.txt", "x")),
            attempt("process.run", lambda: berth.process.run(["cat", "/etc/passwd"])),
            attempt("process.run with a string", lambda: berth.process.run("cat /etc/passwd")),
            attempt("Command with a string", lambda: berth.Command("touch x").argv),
            attempt("Command without argv", lambda: berth.Command([]).argv),
            attempt("Needs with a string", lambda: berth.Needs(commands="touch").commands),
            self.in_configure,
        ]
        fs.write("report.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
        print("py-probe: printed to stdout")
        berth.log.warn("py-probe: written with berth.log")


class PyProbe(Component):
    name = "py-probe"
    doc = "Tries to leave the sandbox and reports what happened."

    def configure(self):
        configure_read = attempt("fs.read in configure", lambda: fs.read("report.json"))
        self += Probe(in_configure=configure_read, label="probe")


berth.export(PyProbe)
