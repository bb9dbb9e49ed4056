"""`greeter`: a greeting rendered by berth from a template, and a custom
step, written in Python with berth's Python SDK."""

import json

import berth
from berth import Attribute, Component, Directory, File, UpdateNeeded, fs


class Visitors(Component):
    """Keeps `greeter/visitors.json` listing who is greeted, written by the
    component itself through berth's confined `fs` import."""

    def configure(self):
        # A child step: deployed before this step's own verify and update.
        self += Directory("greeter", label="greeter folder")

    def _wanted(self):
        return json.dumps({"greeting": self.greeting, "visitors": self.visitors}, indent=2) + "\n"

    def verify(self):
        path = "greeter/visitors.json"
        if not fs.exists(path):
            raise UpdateNeeded("`{}` is missing".format(path))
        if fs.read_text(path) != self._wanted():
            raise UpdateNeeded("`{}` lists other visitors".format(path))

    def update(self):
        fs.write("greeter/visitors.json", self._wanted(), mode=0o644)
        print("greeter: greeted {} visitor(s)".format(len(self.visitors)))


class Greeter(Component):
    name = "greeter"
    doc = (
        "Renders `greeter/greeting.txt` (mode 0644) from the template `greeting.j2`, "
        "its attributes and the host's name and `data-role`, and keeps "
        "`greeter/visitors.json` with a custom step. Needs nothing beyond its workdir."
    )

    greeting = Attribute(str, default="Hello", doc="The word each visitor is greeted with.")
    visitors = Attribute(list, default=["world"], doc="Who is greeted, one line each.")
    excited = Attribute(bool, default=False, doc="End each greeting with `!` instead of `.`.")

    def configure(self):
        self += Visitors(greeting=self.greeting, visitors=self.visitors, label="visitors")
        self += File(
            "greeter/greeting.txt",
            template="greeting.j2",
            context={
                "punctuation": "!" if self.excited else ".",
                "role": self.host.data.get("role", "unknown"),
            },
            mode=0o644,
            label="greeting",
        )
        berth.log.debug("greeter: {} visitors".format(len(self.visitors)))


berth.export(Greeter, version="0.1.0")
