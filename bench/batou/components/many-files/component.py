"""batou's side of berth's deploy benchmark (see ../../../README.md).

Does the same work as `bench/components/many-files`: renders `count` files
`files/file-NNNN.conf` from one Jinja2 template, plus the `files` directory.
"""

from batou.component import Attribute, Component, ConfigString
from batou.lib.file import Directory, File


class ManyFiles(Component):
    count = Attribute(int, 200)
    address = Attribute(str, "127.0.0.1")
    tags = Attribute("list", ConfigString("bench,berth"))

    def configure(self):
        self += Directory("files")
        attributes = dict(count=self.count, address=self.address, tags=self.tags)
        for index in range(self.count):
            self += File(
                "files/file-{:04d}.conf".format(index),
                source="file.j2",
                template_args=dict(
                    name="many-files", index=index, attributes=attributes
                ),
            )
