"""Write berth deployment components in Python, in batou's style.

A package is a folder with a `component.py` that defines `Component`
subclasses and registers its root components with `berth.export`:

    import berth
    from berth import Attribute, Component, File

    class Motd(Component):
        name = "motd"
        doc = "Renders a message of the day."

        greeting = Attribute(str, default="Welcome", doc="The first line.")

        def configure(self):
            self += File("motd", template="motd.j2",
                         context={"fqdn": self.host.fqdn}, mode=0o644)

    berth.export(Motd)

The folder's sources are the component: berth runs them in its shared
Python runtime (CPython, the standard library and this SDK, built once per
berth version), which imports them when an instance starts. Built-in steps (`File`, `Directory`, `Symlink`, `Purge`,
`Command`) are verified and updated by berth itself; a sub-component (any
other `Component` added with `+=`) is a custom step whose `verify` and
`update` run in the sandbox, after its own children.
"""

import json

from wit_world.imports import model as _model
from wit_world.imports import types as _t

from . import fs, log, process
from ._errors import Denied, Error, Failed, Invalid, IoError, NotFound, call

__all__ = [
    "API_VERSION",
    "Address",
    "Attribute",
    "Command",
    "Component",
    "Denied",
    "Directory",
    "Environment",
    "Error",
    "Failed",
    "File",
    "Host",
    "Invalid",
    "IoError",
    "Needs",
    "NotFound",
    "Provided",
    "Purge",
    "Symlink",
    "UpdateNeeded",
    "export",
    "fs",
    "log",
    "platform",
    "process",
]

API_VERSION = "0.1.0"
"""The version of the WIT contract (`berth:component`) this SDK implements;
berth's Python runtime carries it in its `berth:api-version` custom section."""

_REQUIRED = object()


class Address:
    """A service address, resolved as batou's `Address`.

    Declare an attribute with `Attribute(Address, default="localhost:8080")`
    or resolve one in configure with `self.resolve("host:port")`. berth
    resolves the host through the environment's `[resolver]`, then DNS, as
    its `require_v4` / `require_v6` ask.

    - `connect`: `host:port`, for clients (also `str(address)`);
    - `listen`, `listen_v6`: the first IPv4 / IPv6 address with the port,
      for servers, or `None`;
    - `host`, `port`, and every address found in `ipv4` / `ipv6`.
    """

    def __init__(self, value):
        self.host = value["host"]
        self.port = value["port"]
        self.connect = value["connect"]
        self.listen = value.get("listen")
        self.listen_v6 = value.get("listen_v6")
        self.ipv4 = list(value.get("ipv4", []))
        self.ipv6 = list(value.get("ipv6", []))

    def _json(self):
        return {
            "host": self.host,
            "port": self.port,
            "connect": self.connect,
            "listen": self.listen,
            "listen_v6": self.listen_v6,
            "ipv4": self.ipv4,
            "ipv6": self.ipv6,
        }

    def __str__(self):
        return self.connect

    def __repr__(self):
        return "Address({!r})".format(self.connect)

    def __eq__(self, other):
        return isinstance(other, Address) and self._json() == other._json()

    def __hash__(self):
        return hash(self.connect)


# Per type: the WIT type, the Python types a value (and a default) may
# have, and how a value read from berth becomes the attribute's value.
_TYPES = {
    str: (_t.AttributeType.STRING, (str,)),
    int: (_t.AttributeType.INT, (int,)),
    bool: (_t.AttributeType.BOOL, (bool,)),
    list: (_t.AttributeType.LIST, (list,)),
    dict: (_t.AttributeType.MAP, (dict,)),
    # Written `host:port` as a default; berth hands over the resolved object.
    Address: (_t.AttributeType.ADDRESS, (str,)),
}


def _fits(value, python_type):
    if python_type is int and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[python_type][1])


class Attribute:
    """A setting of a root component that the environment may override in
    its `[component:NAME]` section.

    `type` is one of `str`, `int`, `bool`, `list`, `dict`, `Address` (its
    default written `"host:port"`). Without a `default` the attribute is
    required. Reading it on the component gives the environment's value,
    else the default, checked against the type.
    """

    def __init__(self, type, default=_REQUIRED, doc=""):
        if type not in _TYPES:
            raise TypeError(
                "attribute type must be str, int, bool, list, dict or berth.Address, "
                "not {!r}".format(type)
            )
        self.type = type
        self.default = default
        self.doc = doc
        self.name = None

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        cache = instance.__dict__.setdefault("_berth_attributes", {})
        if self.name not in cache:
            raw = call(_model.attribute, self.name)
            try:
                value = json.loads(raw)
            except ValueError as e:
                raise Invalid(
                    "attribute `{}` of component `{}`: not JSON: {}".format(
                        self.name, instance.name, e
                    )
                ) from None
            if self.type is Address and isinstance(value, dict):
                value = Address(value)
            elif not _fits(value, self.type):
                raise Invalid(
                    "attribute `{}` of component `{}` must be {}, not {!r}".format(
                        self.name, instance.name, self.type.__name__, value
                    )
                )
            cache[self.name] = value
        return cache[self.name]

    def _decl(self, component):
        if self.default is _REQUIRED:
            default = None
        else:
            if not _fits(self.default, self.type):
                raise Invalid(
                    "the default of attribute `{}` of component `{}` must be {}, not {!r}".format(
                        self.name, component, self.type.__name__, self.default
                    )
                )
            default = json.dumps(self.default)
        return _t.AttributeDecl(self.name, _TYPES[self.type][0], default, self.doc)


def _strings(owner, what, items):
    """`items` as a list of str; a single string is refused, since `list()`
    would silently split it into characters."""
    if isinstance(items, (str, bytes)):
        raise Invalid(
            "`{}` of {} must be a list of strings, not the string {!r}: write [{!r}]".format(
                what, owner, items, items
            )
        )
    return [str(item) for item in items]


class Needs:
    """What a root component needs beyond its workdir (read-write) and its
    definition folder (read-only); the environment must grant it.

        needs = Needs(commands=["sha256sum"], read=["/etc/ssl"],
                      read_write=["/etc/nginx"])
    """

    def __init__(self, commands=(), read=(), read_write=()):
        self.commands = _strings("Needs", "commands", commands)
        self.read = _strings("Needs", "read", read)
        self.read_write = _strings("Needs", "read_write", read_write)

    def _wit(self):
        paths = [_t.PathNeed(p, _t.Access.READ) for p in self.read]
        paths += [_t.PathNeed(p, _t.Access.READ_WRITE) for p in self.read_write]
        return _t.Needs(paths, list(self.commands))


class Host:
    """The host being deployed to."""

    def __init__(self, info):
        self.name = info.name
        self.fqdn = info.fqdn
        self.platform = info.platform
        self.service_user = info.service_user
        self.data = dict(info.data)
        """The host's `data-KEY = value` settings, without the prefix."""

    def __repr__(self):
        return "Host({!r})".format(self.name)


class Environment:
    """The environment being deployed."""

    def __init__(self, info):
        self.name = info.name
        self.connect_method = info.connect_method
        self.host_domain = info.host_domain
        self.platform = info.platform

    def __repr__(self):
        return "Environment({!r})".format(self.name)


class Provided:
    """A value another root published with `provide`."""

    def __init__(self, host, component, value):
        self.host = host
        self.component = component
        self.value = value

    def __repr__(self):
        return "Provided({!r}, {!r}, {!r})".format(self.host, self.component, self.value)


class UpdateNeeded(Exception):
    """Raised by `verify` when `update` must run; the message says why."""

    def __init__(self, reason="needs update"):
        super().__init__(reason)
        self.reason = str(reason)


# Steps ---------------------------------------------------------------------


class _Step:
    label = ""

    def _resource(self):
        raise NotImplementedError


class File(_Step):
    """A file, verified and updated by berth: written atomically and only
    when its content or mode differ.

    Give exactly one of `text`, `content` (bytes), `source` (a file of the
    definition folder, copied), `secret` (a secret file of the environment,
    `environments/ENV/secret-NAME.age`, which the environment must grant
    with `[grants:COMPONENT] secrets = NAME`), `template` (a minijinja
    template in the definition folder) or `template_str` (the template
    text). Templates see `host`, `environment`, `attributes` and the
    `context` dict. A file whose content holds a secret is written 0600
    unless `mode` is given.
    """

    def __init__(
        self,
        path,
        text=None,
        content=None,
        source=None,
        template=None,
        template_str=None,
        context=None,
        secret=None,
        mode=None,
        leading=False,
        label="",
    ):
        given = [
            k
            for k, v in (
                ("text", text),
                ("content", content),
                ("source", source),
                ("secret", secret),
                ("template", template),
                ("template_str", template_str),
            )
            if v is not None
        ]
        if len(given) > 1:
            raise Invalid(
                "file `{}` has more than one content: {}".format(path, ", ".join(given))
            )
        if context is not None and not isinstance(context, dict):
            raise Invalid(
                "template context of `{}` must be a dict, not {!r}".format(path, context)
            )
        self.path = path
        self.mode = mode
        self.leading = leading
        self.label = label
        ctx = json.dumps(context or {}, sort_keys=True)
        if content is not None:
            self._content = _t.FileContent_Bytes(bytes(content))
        elif source is not None:
            self._content = _t.FileContent_Source(source)
        elif secret is not None:
            # The host reads `secret:NAME` as the environment's secret file
            # NAME; the bytes never pass through the component.
            self._content = _t.FileContent_Source("secret:" + secret)
        elif template is not None:
            self._content = _t.FileContent_Template(
                _t.TemplateSpec(_t.TemplateBody_Source(template), ctx)
            )
        elif template_str is not None:
            self._content = _t.FileContent_Template(
                _t.TemplateSpec(_t.TemplateBody_Inline(template_str), ctx)
            )
        else:
            self._content = _t.FileContent_Text(text or "")

    def _resource(self):
        return _t.Resource_File(_t.FileSpec(self.path, self._content, self.mode, self.leading))


class Directory(_Step):
    """A directory, created by berth when missing."""

    def __init__(self, path, mode=None, leading=False, label=""):
        self.path = path
        self.mode = mode
        self.leading = leading
        self.label = label

    def _resource(self):
        return _t.Resource_Directory(_t.DirectorySpec(self.path, self.mode, self.leading))


class Symlink(_Step):
    """A symbolic link at `path` pointing to `target` (inside a granted path)."""

    def __init__(self, path, target, label=""):
        self.path = path
        self.target = target
        self.label = label

    def _resource(self):
        return _t.Resource_Symlink(_t.SymlinkSpec(self.path, self.target))


class Purge(_Step):
    """Removal of everything that matches a glob pattern."""

    def __init__(self, pattern, label=""):
        self.pattern = pattern
        self.label = label

    def _resource(self):
        return _t.Resource_Purge(_t.PurgeSpec(self.pattern))


class Command(_Step):
    """A program run (never a shell), made idempotent by a guard: skipped
    when `unless` exits with 0 or when `creates` exists; `on_change` runs it
    whenever a child step changed."""

    def __init__(self, argv, cwd=None, unless=None, creates=None, on_change=False, label=""):
        self.argv = _strings("Command", "argv", argv)
        if not self.argv:
            raise Invalid("`argv` of Command is empty: name the program to run")
        self.cwd = cwd
        self.unless = None if unless is None else _strings("Command", "unless", unless)
        self.creates = creates
        self.on_change = on_change
        self.label = label

    def _resource(self):
        return _t.Resource_Command(
            _t.CommandSpec(self.argv, self.cwd, self.unless, self.creates, self.on_change)
        )


# Components ----------------------------------------------------------------

_KINDS = {}


class Component:
    """A root component (registered with `export`) or a sub-component
    (added to another component with `+=`).

    Class attributes: `name` (roots only; as written in the environment's
    `[hosts]`), `doc`, `Attribute`s (roots only) and `needs`. Override
    `configure` to add steps; override `verify` and `update` to make the
    component a step of its own, deployed after its children.

    A sub-component's keyword arguments become attributes of the instance
    and are handed back, as JSON, to its `verify` and `update`: they must be
    JSON values.
    """

    name = ""
    doc = ""
    needs = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _KINDS[cls.__qualname__] = cls

    def __init__(self, **data):
        for key in data:
            if key != "label" and (
                key.startswith("_") or callable(getattr(type(self), key, None))
                or isinstance(getattr(type(self), key, None), property)
            ):
                raise Invalid(
                    "`{}` cannot be data of `{}`: the name is taken".format(
                        key, type(self).__qualname__
                    )
                )
            if isinstance(getattr(type(self), key, None), Attribute):
                raise Invalid(
                    "`{}` is an attribute of `{}`: set it in the environment".format(
                        key, type(self).__qualname__
                    )
                )
        self._berth_data = data
        self.__dict__.update(data)
        self.children_changed = False
        self._berth_builder = None
        self._berth_parent = None
        self.label = data.get("label", "") if isinstance(data.get("label", ""), str) else ""

    # -- configure --------------------------------------------------------

    def configure(self):
        """Add steps with `self += ...`. Must be deterministic."""

    def __iadd__(self, step):
        builder = self._berth_builder
        if builder is None:
            raise Invalid(
                "`{}` adds steps outside configure".format(type(self).__qualname__)
            )
        builder.add(self._berth_parent, step)
        return self

    @property
    def host(self):
        """The `Host` being deployed to."""
        return Host(_model.host())

    @property
    def environment(self):
        """The `Environment` being deployed."""
        return Environment(_model.environment())

    @property
    def features(self):
        """The features switched on for this root."""
        return list(_model.features())

    def provide(self, key, value):
        """Publish a JSON value under `key` for other roots."""
        try:
            data = json.dumps(value, sort_keys=True)
        except (TypeError, ValueError) as e:
            raise Invalid("value provided under `{}`: {}".format(key, e)) from None
        call(_model.provide, key, data)

    def require(self, key, same_host=False, strict=False, reverse=False, dirty=False):
        """The values roots provided under `key`, as a list of `Provided`.

        `strict` makes an empty answer an error of the deployment;
        `same_host` keeps only values of this host; `reverse` deploys this
        root before the providers; `dirty` adds no ordering edge.
        """
        options = _t.RequireOptions(same_host, strict, reverse, dirty)
        out = []
        for p in call(_model.require, key, options):
            try:
                value = json.loads(p.value)
            except ValueError as e:
                raise Invalid(
                    "value of `{}` provided by `{}` on `{}`: {}".format(key, p.component, p.host, e)
                ) from None
            out.append(Provided(p.host, p.component, value))
        return out

    def resolve(self, address):
        """Resolve `host:port` (or `[IPv6]:port`) into an `Address`, as an
        attribute of type `Address` would be."""
        return Address(json.loads(call(_model.resolve, address)))

    # -- verify / update --------------------------------------------------

    def verify(self):
        """Check the component's own step; never change anything.

        Return normally when nothing is to do; raise `UpdateNeeded(reason)`
        (or return a reason string) when `update` must run. The default says
        up to date unless a child changed.
        """
        self.assert_no_subcomponent_changes()

    def update(self):
        """Bring the component's own step up to date."""

    def assert_no_subcomponent_changes(self):
        """Raise `UpdateNeeded` when a child step changed in this run."""
        if self.children_changed:
            raise UpdateNeeded("a child step changed")

    def _is_step(self):
        cls = type(self)
        return cls.verify is not Component.verify or cls.update is not Component.update


class _Builder:
    """The flat step list of one configure call."""

    def __init__(self):
        self.steps = []

    def add(self, parent, step):
        index = len(self.steps)
        if isinstance(step, Component):
            if step._is_step():
                label = step.label or type(step).__qualname__
                try:
                    data = json.dumps(step._berth_data, sort_keys=True)
                except (TypeError, ValueError) as e:
                    raise Invalid(
                        "the data of `{}` must be JSON: {}".format(type(step).__qualname__, e)
                    ) from None
                custom = _t.Resource_Custom(_t.CustomSpec(type(step).__qualname__, data))
                self.steps.append(_t.Step(parent, label, custom))
                own = index
            else:
                own = parent
            step._berth_builder = self
            step._berth_parent = own
            try:
                step.configure()
            finally:
                step._berth_builder = None
            variant = _variant(type(step))
            if variant is not None:
                added = variant()
                added.parent = step
                self.add(own, added)
        elif isinstance(step, _Step):
            self.steps.append(_t.Step(parent, step.label, step._resource()))
        else:
            raise Invalid(
                "cannot add {!r}: add a File, Directory, Symlink, Purge, Command or Component".format(
                    step
                )
            )
        return index


# Platform variants ---------------------------------------------------------

_PLATFORMS = {}


def platform(name, component):
    """Register the decorated class as `component`'s variant for platform
    `name`, as batou's `@platform`:

        @berth.platform("debian", Nginx)
        class NginxDebian(Component):
            def configure(self):
                self += File("apt-preferences", content="...")

    After `component` configures, an instance of the variant for the host's
    platform (`--platform`, else the host's, else the environment's) is
    added to it, with `self.parent` set to it; a platform without a variant
    adds nothing.
    """
    if not (isinstance(component, type) and issubclass(component, Component)):
        raise TypeError("berth.platform needs a Component class, not {!r}".format(component))

    def register(variant):
        if not (isinstance(variant, type) and issubclass(variant, Component)):
            raise TypeError("@berth.platform decorates Component classes, not {!r}".format(variant))
        _PLATFORMS.setdefault(component, {})[name] = variant
        return variant

    return register


def _variant(component):
    """The variant of `component` for the current host's platform, if any."""
    variants = _PLATFORMS.get(component)
    if not variants:
        return None
    name = _model.host().platform
    variant = variants.get(name)
    if variant is not None:
        log.debug("configuring the platform variant `{}` of `{}`".format(
            name, component.__qualname__))
    return variant


# Registration --------------------------------------------------------------

_ROOTS = []
_PACKAGE = {}


def export(*roots, name=None, version="0.1.0"):
    """Register the package's root components with berth.

    `name` defaults to the first root's name; `version` is the package's
    semver version.
    """
    for root in roots:
        if not (isinstance(root, type) and issubclass(root, Component)):
            raise TypeError("berth.export takes Component classes, not {!r}".format(root))
        if not root.name:
            raise TypeError("root component {} has no `name`".format(root.__qualname__))
        _ROOTS.append(root)
    if not _ROOTS:
        raise TypeError("berth.export needs at least one root component")
    _PACKAGE["name"] = name or _PACKAGE.get("name") or _ROOTS[0].name
    _PACKAGE["version"] = version
