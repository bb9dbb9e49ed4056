"""`py-steps`: a Python test guest for provide/require, needs and the
built-in steps that `py-probe` and `greeter` do not use (see
`tests/tests/all/python.rs`).

Two roots:

- `py-source` provides its attribute `settings` (a map) under `settings`;
- `py-steps` requires `settings` strictly and writes what arrived, with the
  Python type of each value, to `received.json` (a custom step); it needs the
  program `touch`, runs it through a `Command` guarded by `creates`, links
  `current` to `releases/v1` with a `Symlink` and removes `*.tmp` from its
  workdir with a `Purge`;
- `py-places` writes `places.json`: its address attribute `listen` and the
  address `db.internal:5432` as `resolve` answers them; its platform
  variants `debian` and `alpine` add `variant.txt`;
- `py-secret` writes the environment's secret file `tls.key` into its
  `tls.key` (`File(..., secret=...)`).
"""

import json

import berth
from berth import (
    Address,
    Attribute,
    Command,
    Component,
    Directory,
    File,
    Needs,
    Purge,
    Symlink,
    UpdateNeeded,
    fs,
)


class PySource(Component):
    name = "py-source"
    doc = "Provides its `settings` under the key `settings`."

    settings = Attribute(
        dict,
        default={"port": 5432, "tls": True, "hosts": ["a", "b"], "name": "db", "ratio": 0.5},
        doc="What it provides.",
    )

    def configure(self):
        self.provide("settings", self.settings)


class Received(Component):
    """Writes what `require` returned, as JSON with the Python types."""

    def verify(self):
        if not fs.exists("received.json"):
            raise UpdateNeeded("`received.json` is missing")
        if json.loads(fs.read_text("received.json")) != self.received:
            raise UpdateNeeded("`received.json` differs")

    def update(self):
        fs.write("received.json", json.dumps(self.received, indent=2, sort_keys=True) + "\n")


class PySteps(Component):
    name = "py-steps"
    doc = "Requires `settings` and uses Command, Symlink and Purge."
    needs = Needs(commands=["touch"])

    def configure(self):
        received = []
        for p in self.require("settings", strict=True):
            received.append(
                {
                    "host": p.host,
                    "component": p.component,
                    "value": p.value,
                    "types": {k: type(v).__name__ for k, v in sorted(p.value.items())},
                    "provided_type": type(p).__name__,
                }
            )
        self += Received(received=received, label="received")
        self += Command(["touch", "touched"], creates="touched", label="touch")
        self += Directory("releases/v1", leading=True, label="release")
        self += Symlink("current", "releases/v1", label="current")
        self += Purge("*.tmp", label="purge")


class PyPlaces(Component):
    name = "py-places"
    doc = "Writes its resolved addresses to `places.json`; platform variants add `variant.txt`."

    listen = Attribute(Address, default="localhost:8080", doc="Where it would listen.")

    def configure(self):
        db = self.resolve("db.internal:5432")
        places = {
            "listen": {
                "str": str(self.listen),
                "type": type(self.listen).__name__,
                "listen": self.listen.listen,
                "listen_v6": self.listen.listen_v6,
            },
            "db": {"connect": db.connect, "listen": db.listen, "ipv4": db.ipv4, "ipv6": db.ipv6},
        }
        self += File("places.json", text=json.dumps(places, indent=2, sort_keys=True) + "\n")


@berth.platform("debian", PyPlaces)
class PyPlacesDebian(Component):
    def configure(self):
        self += File("variant.txt", text="debian variant of {}\n".format(self.parent.name))


@berth.platform("alpine", PyPlaces)
class PyPlacesAlpine(Component):
    def configure(self):
        self += File("variant.txt", text="alpine variant of {}\n".format(self.parent.name))


class PySecret(Component):
    name = "py-secret"
    doc = "Writes the environment's secret file `tls.key` into `tls.key`."

    def configure(self):
        self += File("tls.key", secret="tls.key")


berth.export(PySteps, PySource, PyPlaces, PySecret)
