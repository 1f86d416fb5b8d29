"""An MLflow tracking server on PostgreSQL, as a shared server on a cluster is: PostgreSQL with a
database of its own (password login, loopback only), `mlflow server` in a session of its own (it
starts workers: a stop ends its whole process group), artifacts served from a local folder.

PostgreSQL refuses to run as root, so its cluster belongs to the `postgres` user the Debian package
creates; the server's job runner stays off (MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false): it would
start a Huey consumer per worker that the pipeline never uses.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .services import (
    DAEMON_MARKER,
    PORTS,
    POSTGRES_PACKAGE,
    Missing,
    Ports,
    read_pid,
    require,
    run,
    start_daemon,
    stop_daemon,
    wait_until,
)

DATABASE = "mlflow"
PG_USER = "postgres"


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's programs (Debian keeps them per version)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise Missing(
            f"the MLflow server's store needs PostgreSQL, not installed here: apt-get install {POSTGRES_PACKAGE}"
        )
    return found[-1].parent


def mlflow_program() -> Path:
    return Path(sys.executable).parent / "mlflow"


def paths(state: Path) -> dict[str, Path]:
    return {
        "pg_data": state / "postgres" / "data",
        "pg_socket_dir": state / "postgres",
        "pg_password": state / "postgres" / "password",
        "pg_log": state / "postgres" / "postgres.log",  # the postgres user writes it
        "artifacts": state / "mlflow" / "artifacts",
    }


def store_uri(state: Path, ports: Ports = PORTS) -> str:
    password = paths(state)["pg_password"].read_text().strip()
    return f"postgresql://{PG_USER}:{password}@127.0.0.1:{ports.postgres}/{DATABASE}"


def tracking_uri(ports: Ports = PORTS) -> str:
    return f"http://127.0.0.1:{ports.mlflow}"


def as_postgres(cmd: list[str], **kw):
    return run(["runuser", "-u", PG_USER, "--", *cmd], **kw)


def postgres_running(state: Path) -> bool:
    return (
        as_postgres(
            [str(postgres_bin() / "pg_ctl"), "-D", str(paths(state)["pg_data"]), "status"], check=False
        ).returncode
        == 0
    )


def start_postgres(state: Path, ports: Ports = PORTS) -> None:
    p = paths(state)
    bin_dir = postgres_bin()
    if not (p["pg_data"] / "PG_VERSION").exists():
        p["pg_data"].mkdir(parents=True, exist_ok=True)
        if not p["pg_password"].exists():
            p["pg_password"].write_text(secrets.token_hex(16))
        shutil.chown(p["pg_data"].parent, PG_USER)
        shutil.chown(p["pg_data"], PG_USER)
        shutil.chown(p["pg_password"], PG_USER)
        p["pg_password"].chmod(0o600)
        as_postgres(
            [str(bin_dir / "initdb"), "-D", str(p["pg_data"]), "-U", PG_USER, "--auth=scram-sha-256"]
            + [f"--pwfile={p['pg_password']}", "--no-sync"],
            timeout=300,
        )
    if not postgres_running(state):
        options = f"-c listen_addresses=127.0.0.1 -p {ports.postgres} -k {p['pg_socket_dir']}"
        # pg_ctl starts the server detached; the marker in its environment lets stop find it
        as_postgres(
            [str(bin_dir / "pg_ctl"), "-D", str(p["pg_data"]), "-l", str(p["pg_log"])]
            + ["-o", options, "-w", "-t", "60", "start"],
            env={DAEMON_MARKER: str(state)},
            timeout=90,
        )
    env = {"PGPASSWORD": p["pg_password"].read_text().strip()}
    psql = [str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(ports.postgres), "-U", PG_USER, "-tA"]
    have = run([*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"], env=env).stdout
    if not have.strip():
        run([*psql, "-c", f"CREATE DATABASE {DATABASE}"], env=env)


def stop_postgres(state: Path) -> None:
    if (paths(state)["pg_data"] / "PG_VERSION").exists() and postgres_running(state):
        as_postgres([str(postgres_bin() / "pg_ctl"), "-D", str(paths(state)["pg_data"]), "-m", "fast", "-w", "stop"])


def server_answers(uri: str) -> bool:
    """The server answers a call that reads its store (its /health answers without the store)."""
    request = urllib.request.Request(
        f"{uri}/api/2.0/mlflow/experiments/search",
        data=json.dumps({"max_results": 1}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5):
            return True
    except (urllib.error.URLError, OSError):
        return False


def start_server(state: Path, ports: Ports = PORTS) -> None:
    uri = tracking_uri(ports)
    if not read_pid(state / "run" / "mlflow.pid"):
        paths(state)["artifacts"].mkdir(parents=True, exist_ok=True)
        start_daemon(
            "mlflow",
            [str(mlflow_program()), "server", "--backend-store-uri", store_uri(state, ports)]
            + ["--artifacts-destination", str(paths(state)["artifacts"])]
            + ["--host", "127.0.0.1", "--port", str(ports.mlflow), "--workers", "2"],
            state,
            env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"},
        )
    wait_until(lambda: server_answers(uri), f"the MLflow server at {uri}", 180, state, "mlflow")


def stop_server(state: Path) -> None:
    stop_daemon("mlflow", state, timeout_s=20)


def start(state: Path, log=print) -> str:
    require(["runuser"])
    postgres_bin()
    try:
        import psycopg2  # noqa: F401  (the server's PostgreSQL driver, in this interpreter)
    except ImportError:
        raise Missing(
            "the MLflow server's PostgreSQL driver psycopg2 is not installed: "
            "pip install -c constraints.txt -e '.[cluster]'"
        ) from None
    (state / "logs").mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o755)  # the postgres user reaches its folder through it
    start_postgres(state)
    log(f"tracking: PostgreSQL on 127.0.0.1:{PORTS.postgres}, database {DATABASE}")
    start_server(state)
    log(f"tracking: MLflow server at {tracking_uri()} (artifacts in {paths(state)['artifacts']})")
    return tracking_uri()


def stop(state: Path, log=print) -> None:
    if not state.exists():
        return
    stop_server(state)
    log("tracking: MLflow server stopped")
    if Path("/usr/lib/postgresql").exists():
        stop_postgres(state)
        log("tracking: PostgreSQL stopped")
