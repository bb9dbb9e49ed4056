"""`py-sleep`: a Python test guest whose verify sleeps two minutes in WASI
(`time.sleep`), to show that a blocking WASI call ends at the deadline of
the call (see `tests/tests/all/limits.rs`)."""

import time

import berth
from berth import Component


class Nap(Component):
    def verify(self):
        time.sleep(120)


class PySleep(Component):
    name = "py-sleep"
    doc = "Sleeps for two minutes in verify."

    def configure(self):
        self += Nap(label="nap")


berth.export(PySleep)
