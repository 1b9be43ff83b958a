"""Read a YAML config file that may be hostile or broken, without letting it take the machine.

Every stack file and YAML config the CLI reads goes through :func:`read_yaml`. It refuses, with one line
naming the file and the key: what is not a regular file (``/dev/zero``, a FIFO: checked before opening, and
opened non-blocking), a file over :data:`MAX_BYTES`, text that is not UTF-8, duplicate keys (YAML keeps the
last one silently, so ``multiAz: true`` then ``multiAz: false`` would mean false), keys that are not text
(``on:`` is a boolean in YAML), aliases beyond a small bound or expanding to more than :data:`MAX_NODES`
values (an alias bomb grows to gigabytes once written out as JSON), recursive aliases, nesting deeper
than :data:`MAX_DEPTH`, and every tag but plain text, numbers, booleans, null, lists and mappings
(``!!binary``, ``!!set``, ``!!python/...``, dates and times: quote a date to mean the text).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from stacks.errors import ConfigError

MAX_BYTES = 1024 * 1024  # a stack file is a few KiB
MAX_DEPTH = 32  # the model nests four levels deep
MAX_ALIASES = 100
MAX_NODES = 20_000  # values, aliases expanded (a stack file holds a few hundred)

_YAML = "tag:yaml.org,2002:"
_MERGE = f"{_YAML}merge"  # "<<: *defaults", a key that merges a mapping in
_PLAIN_TAGS = {f"{_YAML}{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")} | {_MERGE}
_NAMES = {f"{_YAML}timestamp": "a date or time (quote it to mean the text)",
          f"{_YAML}binary": "binary data (!!binary)", f"{_YAML}set": "a set (!!set)",
          f"{_YAML}omap": "an ordered map (!!omap)", f"{_YAML}pairs": "a list of pairs (!!pairs)"}


class _Refused(Exception):
    def __init__(self, path: list[Any], why: str, node: Any = None) -> None:
        super().__init__(why)
        self.path, self.why, self.mark = list(path), why, getattr(node, "start_mark", None)


def read_yaml(path: Path) -> Any:
    """The document in ``path``; ConfigError (exit 2) naming the file and the key for anything refused."""
    text = _read_text(path)
    import yaml

    loader = None
    try:
        loader = _loader_class()(text)  # checks that the text is printable
        node = loader.get_single_node()
        if node is None:
            return None
        _count_values(node, [], {}, set())
        return loader.construct_document(node)
    except _Refused as refused:
        where = f"line {refused.mark.line + 1}" if refused.mark else ""
        key = key_path(refused.path)
        where = f"{key} ({where})" if key and where else key or where
        raise ConfigError(f"{path.name}: {where + ': ' if where else ''}{refused.why}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(f"{path.name}: holds the control character 0x{exc.character:02x} at line {line}",
                          hint="remove it; YAML files are printable text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or ""
        raise ConfigError(f"{path.name}: not valid YAML{where}{': ' + problem if problem else ''}",
                          hint="fix the syntax") from None
    finally:
        if loader is not None:
            loader.dispose()


def key_path(parts: list[Any]) -> str:
    """``config`` / ``infra:eks`` / ``nodeGroups`` / 0 / ``minSize`` -> ``infra:eks.nodeGroups[0].minSize``
    (the names errors about the model use)."""
    parts = [p for p in parts if p is not None]
    if len(parts) > 1 and parts[0] == "config":
        parts = parts[1:]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _read_text(path: Path) -> str:
    try:
        # stat before opening: opening a FIFO waits for a writer, reading /dev/zero never ends.
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path}: not a regular file ({_kind(info.st_mode)})",
                              hint="give the path of a YAML file")
        _check_size(path, info.st_size)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found", hint="create it or pass --config") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        opened = os.fstat(fd)  # the file opened is the one checked, not one swapped in since
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise ConfigError(f"{path}: the file changed while being read", hint="try again")
        data = b""
        while chunk := os.read(fd, MAX_BYTES + 1 - len(data)):
            data += chunk
            _check_size(path, len(data))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path.name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line})",
                          hint="save the file as UTF-8") from None


def _check_size(path: Path, size: int) -> None:
    if size > MAX_BYTES:
        raise ConfigError(f"{path}: larger than the {MAX_BYTES // 1024} KiB a config file may have",
                          hint="a stack file is a few KiB; is this the right file?")


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a plain file")


def _count_values(node: Any, path: list[Any], sizes: dict[int, int], open_nodes: set[int]) -> int:
    """Values the document holds once aliases are expanded (each shared node counted once per use);
    refuses a recursive alias and a document past MAX_NODES."""
    import yaml

    if id(node) in sizes:
        return sizes[id(node)]
    if id(node) in open_nodes:
        raise _Refused(path, "an alias refers to a node that contains it (recursive alias)", node)
    open_nodes.add(id(node))
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            total += _count_values(item, [*path, i], sizes, open_nodes)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            total += 1 + _count_values(value, [*path, key.value], sizes, open_nodes)
    if total > MAX_NODES:
        raise _Refused(path, f"expands to more than {MAX_NODES} values (aliases repeated within aliases)",
                       node)
    open_nodes.discard(id(node))
    sizes[id(node)] = total
    return total


_LOADER: type | None = None


def _loader_class() -> type:
    """yaml.SafeLoader, checking each node as it is composed (so a limit stops it before more is read)."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    class Loader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.key_path: list[Any] = []
            self.aliases = 0
            self.nodes = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.key_path.append(index.value if isinstance(index, yaml.ScalarNode) else index)
            try:
                if self.check_event(yaml.AliasEvent):
                    self.aliases += 1
                    if self.aliases > MAX_ALIASES:
                        raise _Refused(self.key_path, f"more than {MAX_ALIASES} aliases (*name)",
                                       self.peek_event())
                self.nodes += 1
                if self.nodes > MAX_NODES:  # stop reading early; aliases are counted after, in _count_values
                    raise _Refused(self.key_path, f"more than {MAX_NODES} values", self.peek_event())
                if len(self.key_path) > MAX_DEPTH + 1:
                    raise _Refused(self.key_path, f"nested more than {MAX_DEPTH} levels deep", self.peek_event())
                node = super().compose_node(parent, index)
                _check_node(node, self.key_path)
                return node
            finally:
                self.key_path.pop()

    _LOADER = Loader
    return Loader


def _check_node(node: Any, path: list[Any]) -> None:
    import yaml

    if node.tag not in _PLAIN_TAGS:
        what = _NAMES.get(node.tag) or f"the tag {node.tag.replace(_YAML, '!!')}"
        raise _Refused(path, f"{what} is not accepted here; write plain text, a number, true/false, a list "
                             "or a mapping", node)
    if not isinstance(node, yaml.MappingNode):
        return
    seen: dict[str, Any] = {}
    for key, _ in node.value:
        if key.tag == _MERGE:
            continue
        if not isinstance(key, yaml.ScalarNode) or key.tag != f"{_YAML}str":
            shown = key.value if isinstance(key, yaml.ScalarNode) else type(key).__name__
            raise _Refused(path, f"the key {shown!r} is not text; quote it", key)
        if key.value in seen:
            first = seen[key.value].start_mark.line + 1
            raise _Refused([*path, key.value], f"given twice (first at line {first}); keep one", key)
        seen[key.value] = key
