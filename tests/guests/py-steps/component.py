"""`py-steps`: a Python test guest for provide/require, needs and the
built-in steps that `py-probe` and `greeter` do not use (see
`tests/tests/all/python.rs`).

Two roots:

- `py-source` provides its attribute `settings` (a map) under `settings`;
- `py-steps` requires `settings` strictly and writes what arrived, with the
  Python type of each value, to `received.json` (a custom step); it needs the
  program `touch`, runs it through a `Command` guarded by `creates`, links
  `current` to `releases/v1` with a `Symlink` and removes `*.tmp` from its
  workdir with a `Purge`.
"""

import json

import berth
from berth import Attribute, Command, Component, Directory, Needs, Purge, Symlink, UpdateNeeded, fs


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


berth.export(PySteps, PySource)
