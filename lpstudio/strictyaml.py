"""YAML as papermill's `-y` reads it (dates stay text), without a key given twice in one
mapping: PyYAML keeps the last value unsaid, as Python's `json` keeps a name given twice
(`strictjson` refuses that), so a file holding `days: 3` and, further down, `days: 30` ran
on one of them with nothing said. JSON is YAML: a `-f` file of JSON is read the same way.

It is YAML 1.1, as papermill's (PyYAML reads no YAML 1.2, and no loader of papermill's
narrows its types but for dates): `+14155550199` and `0612345670` (octal: 103402424) are
numbers, `no` is false, `1e3` is text. A user meant otherwise, so a value refused for its
type quotes the scalar as they wrote it (`Written`), not only as YAML read it.
"""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import yaml

from .errors import ParameterError


class DuplicateKey(yaml.YAMLError):
    """A key given twice in one mapping; `key` is the key, as YAML read it."""

    def __init__(self, key: Any) -> None:
        super().__init__(f"the key {key!r} is given twice in one mapping")
        self.key = key


@functools.cache
def _loader() -> type[yaml.SafeLoader]:
    """papermill's loader (imported at the first YAML read: papermill's import costs about
    0.2 s), refusing a key given twice in any mapping, nested ones too. The keys a merge
    (`<<: *base`) brings may be given again: overriding them is what a merge is for."""
    from papermill.iorw import NoDatesSafeLoader

    class UniqueKeys(NoDatesSafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, Hashable):  # an unhashable key is PyYAML's to refuse
                    if key in seen:
                        raise DuplicateKey(key)
                    seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return UniqueKeys


def load(text: str) -> Any:
    """`text` read as YAML; raises `DuplicateKey` (a `yaml.YAMLError`) for a key given twice
    in one mapping, `yaml.YAMLError` for anything else that is no YAML, and RecursionError
    when it nests deeper than PyYAML can recurse."""
    return yaml.load(text, Loader=_loader())


@dataclass(frozen=True)
class Written:
    """A value of a mapping's top level as its user wrote it, in `-y` or in the `file` given
    to `-f`: its key and its scalar, as source text, quotes and all."""

    key: str
    value: str
    file: str | None = None

    def said(self) -> str:
        """Where the value was written, for a refusal: `-y`, or `-f params.yaml`."""
        return "-y" if self.file is None else f"-f {self.file}"

    def instead(self, value: str) -> str:
        """`value` (YAML) written in place of this one, as the user would give it: for
        `-y`, the option (`-y 'phone: "+14155550199"'`), for a file, its line in it."""
        line = f"{self.key}: {value}"
        return f"-y {shlex.quote(line)}" if self.file is None else f"{line} in {self.file}"

    def in_quotes(self) -> str:
        """The value as text: the scalar as written, in double quotes (JSON's, which YAML
        reads)."""
        return json.dumps(self.value, ensure_ascii=False)


def as_yaml(value: Any) -> str:
    """`value` as YAML writes it, which YAML reads back as that value: a float as 1.0e-05,
    where JSON's 1e-05 (or a user's 1e3) is text to YAML 1.1."""
    return yaml.safe_dump(value, default_flow_style=True, width=float("inf")).split("\n")[0]


def load_written(text: str, file: str | None = None) -> tuple[Any, dict[str, Written]]:
    """`text` (`-y`'s, or the `file` given to `-f`) read as `load` reads it, with each scalar
    of its top-level mapping as written (`Written`), by its key; keys that are no text, and
    values that are lists or mappings, have none. One reading: PyYAML's nodes keep where
    each scalar starts and ends."""
    loader = _loader()(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()
    if not isinstance(node, yaml.MappingNode):
        return data, {}

    def source(part: yaml.Node) -> str:
        return text[part.start_mark.index : part.end_mark.index]

    return data, {
        key.value: Written(source(key), source(value), file)
        for key, value in node.value
        if key.tag == "tag:yaml.org,2002:str" and isinstance(value, yaml.ScalarNode)
    }


def _mark(mark: Any) -> str:
    """A PyYAML mark as people count: from line 1, column 1 (PyYAML counts from 0)."""
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _said(exc: yaml.YAMLError) -> str:
    """What PyYAML found wrong, and where: its text's first line named only what it was
    parsing ('while parsing a flow sequence'), not what was wrong nor its line and column."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem is None:
        return f": {str(exc).splitlines()[0]}"
    where = f" at {_mark(exc.problem_mark)}" if exc.problem_mark else ""
    said = f"{where}: {exc.problem}"
    if exc.context:
        begun = f" begun at {_mark(exc.context_mark)}" if exc.context_mark else ""
        said += f" ({exc.context}{begun})"
    return said


def load_given(text: str, subject: str, field: str, expected: str, fix: str) -> Any:
    """`text`, a value a user gave (a `-p` value, a form's field), read as `load` reads it,
    refused as `refused_as` says."""
    with refused_as(subject, field, expected, fix):
        return load(text)


@contextmanager
def refused_as(subject: str, field: str, expected: str, fix: str) -> Iterator[None]:
    """Reading parameters a user gave (`-f`, `-y`, a `-p` value, a form's field): what YAML
    refuses raises ParameterError naming `field`, worded alike wherever the text came from:
    `subject` gave a key twice, or `subject` expects `expected` but it does not parse (`fix`
    says what to give instead)."""
    try:
        yield
    except DuplicateKey as exc:
        raise ParameterError(
            f"{subject} gives the key {exc.key!r} twice in one mapping",
            field=field,
            fix=f"give {exc.key!r} once: only one of its values would be used",
        ) from None
    except (yaml.YAMLError, RecursionError) as exc:  # PyYAML recurses as it nests
        said = _said(exc) if isinstance(exc, yaml.YAMLError) else ": nested too deep"
        raise ParameterError(
            f"{subject} expects {expected}, but it does not parse{said}", field=field, fix=fix
        ) from None
