"""YAML as papermill's `-y` reads it (dates stay text), without a key given twice in one
mapping: PyYAML keeps the last value unsaid, as Python's `json` keeps a name given twice
(`strictjson` refuses that), so a file holding `days: 3` and, further down, `days: 30` ran
on one of them with nothing said. JSON is YAML: a `-f` file of JSON is read the same way.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
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
    """`text`, parameters a user gave (`-f`, `-y`, a `-p` value, a form's field), read as
    `load` reads it. What it refuses raises ParameterError naming `field`, worded alike
    wherever the text came from: `subject` gave a key twice, or `subject` expects
    `expected` but it does not parse (`fix` says what to give instead)."""
    try:
        return load(text)
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
