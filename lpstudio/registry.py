"""Finding connectors: the bundled `connectors/` folder, the workspace's own `connectors/`
folder (a brand's custom connectors), and packages registering on the entry-point group
`lpstudio.connectors`. Each module or package there defines a module-level `connector`.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from importlib.metadata import entry_points
from pathlib import Path

from .errors import LpstudioError, NotFoundError
from .sdk import Connector

ENTRY_POINT_GROUP = "lpstudio.connectors"

_cache: dict[Path | None, dict[str, Connector]] = {}
#: One loader at a time: a module is in `sys.modules` before its code has run, so a second
#: thread loading at once would find it without its `connector` yet (a server's threads do).
_loading = threading.RLock()


def bundled_dir() -> Path:
    """The bundled connectors: packaged in the wheel, or the repository's folder."""
    packaged = Path(__file__).parent / "bundled_connectors"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "connectors"


def _load_file(path: Path, prefix: str) -> Connector:
    """Imports a connector module file or package folder under a private module name."""
    stem = path.stem if path.is_file() else path.name
    module_name = f"{prefix}.{stem}"
    if prefix not in sys.modules:  # a parent, so that relative imports inside packages work
        parent = types.ModuleType(prefix)
        parent.__path__ = []
        sys.modules[prefix] = parent
    if module_name in sys.modules:
        module = sys.modules[module_name]
    else:
        init = path if path.is_file() else path / "__init__.py"
        locations = None if path.is_file() else [str(path)]
        spec = importlib.util.spec_from_file_location(
            module_name, init, submodule_search_locations=locations
        )
        if spec is None or spec.loader is None:
            raise LpstudioError(f"cannot load connector {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[module_name]
            raise LpstudioError(
                f"connector {path} failed to load: {type(exc).__name__}: {exc}",
                fix="correct the connector's code",
            ) from exc
    connector = getattr(module, "connector", None)
    if not isinstance(connector, Connector):
        raise LpstudioError(
            f"{path} defines no `connector = Connector(...)`",
            fix="define a module-level `connector`",
        )
    connector.source = str(path)
    return connector


def _candidates(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if not p.name.startswith(("_", "."))
        and ((p.is_file() and p.suffix == ".py") or (p / "__init__.py").is_file())
    )


def load_connectors(workspace_root: Path | None = None) -> dict[str, Connector]:
    """Every connector by name; a name defined twice is an error naming both places."""
    cached = _cache.get(workspace_root)
    if cached is not None:
        return cached
    with _loading:
        if workspace_root not in _cache:
            _cache[workspace_root] = _load_all(workspace_root)
        return _cache[workspace_root]


def _load_all(workspace_root: Path | None) -> dict[str, Connector]:
    found: dict[str, Connector] = {}

    def add(connector: Connector) -> None:
        earlier = found.get(connector.name)
        if earlier is not None:
            raise LpstudioError(
                f"connector '{connector.name}' is defined twice: {earlier.source} and "
                f"{connector.source}",
                fix="rename one of them",
            )
        found[connector.name] = connector

    for path in _candidates(bundled_dir()):
        add(_load_file(path, "lpstudio_connectors"))
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        connector = entry.load()
        connector.source = f"entry point {entry.value}"
        add(connector)
    if workspace_root is not None:
        prefix = f"lpstudio_workspace_{abs(hash(workspace_root))}"
        for path in _candidates(workspace_root / "connectors"):
            add(_load_file(path, prefix))
    return found


def get_connector(name: str, workspace_root: Path | None = None) -> Connector:
    connectors = load_connectors(workspace_root)
    if name not in connectors:
        raise NotFoundError(
            f"unknown connector type '{name}'",
            field="type",
            fix=f"use one of: {', '.join(sorted(connectors))} (see `lpstudio connectors`)",
        )
    return connectors[name]


def forget() -> None:
    """Drops the cache, so edited custom connectors load again."""
    with _loading:
        _cache.clear()
