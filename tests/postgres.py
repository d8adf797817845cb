"""A real PostgreSQL server for tests: Debian's binaries, a fresh cluster on loopback.

`make test` installs Debian's `postgresql` package; the cluster is created in a temporary
folder (as the `postgres` user when the tests run as root, which PostgreSQL refuses to be)
with trust authentication on 127.0.0.1, and removed at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.conftest import PortTaken, on_a_free_port

#: The data folder and server options of each running cluster, by its port.
_CLUSTERS: dict[int, tuple[Path, str]] = {}


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `make test` (it installs it)")
    return Path(found[-1]).parent


def _as_owner(args: list[str]) -> list[str]:
    """Runs a PostgreSQL tool as `postgres` when we are root, else as ourselves."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def postgres_server() -> Iterator[str]:
    """Starts a PostgreSQL cluster in a folder of its own (pytest's are private to root);
    yields the SQLAlchemy URL of its database."""
    bin_dir = _binaries()
    base = Path(tempfile.mkdtemp(prefix="lpstudio-pg-"))
    data, sockets = base / "data", base / "run"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    subprocess.run(
        _as_owner([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
        check=True,
        capture_output=True,
    )
    log = base / "server.log"

    def start(port: int) -> int:
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off"
        log.unlink(missing_ok=True)  # the log of this start alone
        ctl = [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log)]
        started = subprocess.run(_as_owner([*ctl, "-w", "start"]), capture_output=True)
        if started.returncode and log.exists() and "already in use" in log.read_text():
            raise PortTaken(f"127.0.0.1:{port}")
        started.check_returncode()
        _CLUSTERS[port] = (data, options)
        return port

    port = on_a_free_port(start)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        del _CLUSTERS[port]
        subprocess.run(
            _as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


def create_database(url: str, name: str, icu_locale: str | None = None) -> str:
    """A new empty database on the server of `url`, in the ICU locale given (such as
    "en-US", as managed servers often are; Debian's binaries here know no other locale than
    C); its URL."""
    import psycopg

    plain = url.replace("postgresql+psycopg://", "postgresql://")
    locale = (
        f" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '{icu_locale}'" if icu_locale else ""
    )
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{locale}')
    return url.rsplit("/", 1)[0] + f"/{name}"


def restart_server(url: str) -> None:
    """Restarts the cluster serving `url` (a failover, a server upgraded): every connection
    to it is cut, each open transaction rolled back. Returns once it accepts connections."""
    data, _ = _CLUSTERS[make_url(url).port]
    subprocess.run(
        _as_owner(
            [
                *(str(_binaries() / "pg_ctl"), "-D", str(data)),
                *("-l", str(data.parent / "server.log"), "-m", "fast", "-w", "restart"),
            ]
        ),
        check=True,
        capture_output=True,
    )


@contextmanager
def server_down(url: str) -> Iterator[None]:
    """Stops the cluster serving `url` at once (as a crash or a maintenance would), and
    starts it again, with the same options, on leaving."""
    data, options = _CLUSTERS[make_url(url).port]
    ctl = [str(_binaries() / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        _as_owner([*ctl, "-m", "immediate", "-w", "stop"]), check=True, capture_output=True
    )
    try:
        yield
    finally:
        subprocess.run(
            _as_owner([*ctl, "-o", options, "-l", str(data.parent / "server.log"), "-w", "start"]),
            check=True,
            capture_output=True,
        )


def workspace_on(server: str, root: Path, test_name: str) -> Path:
    """An activated workspace at `root` whose store is a fresh PostgreSQL database named
    after the test (a database name is at most 63 bytes)."""
    import hashlib

    from lpstudio.studio import Studio

    name = test_name.lower()
    url = create_database(server, f"{name[:48]}_{hashlib.sha1(name.encode()).hexdigest()[:12]}")
    root.mkdir()
    (root / "lpstudio.toml").write_text(f'[store]\nurl = "{url}"\n')
    Studio.init(root, accept_terms=True, admin="alice").close()
    return root
