"""The daemons of the one-node cluster: where their files go, what they need installed, starting
one in a session of its own, waiting until it answers, and stopping it with all it started.

Every daemon gets DAEMON_MARKER=<state folder> in its environment, and so does whatever it starts (a
job's slurmstepd, a server's workers): `stop` finds them all by it in /proc, and a stop that
leaves one running says which.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MARKER = "LOGITREPRO_CLUSTER_DIR"  # the state folder a user chooses
# what the daemons carry: not MARKER, which the shell that starts the cluster may carry too
DAEMON_MARKER = "LOGITREPRO_CLUSTER_DAEMON"
DEFAULT_STATE = Path("/tmp/logitrepro-cluster")

# The Debian package of each program the cluster runs (bookworm: SLURM 22.05, PostgreSQL 15).
PACKAGES = {
    "munged": "munge",
    "mungekey": "munge",
    "munge": "munge",
    "unmunge": "munge",
    "mariadbd": "mariadb-server",
    "mariadb-install-db": "mariadb-server",
    "mariadb": "mariadb-client",
    "slurmdbd": "slurmdbd",
    "slurmctld": "slurmctld",
    "slurmd": "slurmd",
    "sbatch": "slurm-client",
    "sacct": "slurm-client",
    "sacctmgr": "slurm-client",
    "scontrol": "slurm-client",
    "squeue": "slurm-client",
    "scancel": "slurm-client",
    "runuser": "util-linux",
}
POSTGRES_PACKAGE = "postgresql"


@dataclass(frozen=True)
class Ports:
    """Loopback ports, away from the services' defaults so that a MariaDB, PostgreSQL or SLURM the
    machine runs already is left alone."""

    mariadb: int = 13306
    slurmctld: int = 16817
    slurmd: int = 16818
    slurmdbd: int = 16819
    postgres: int = 15432
    mlflow: int = 15000


PORTS = Ports()


def state_dir() -> Path:
    return Path(os.environ.get(MARKER) or DEFAULT_STATE).absolute()


class Missing(RuntimeError):
    """A program the cluster needs is not installed (the message names its package)."""


def require(programs: list[str], which: Callable[[str], str | None] = shutil.which) -> None:
    """Raise Missing naming every absent program, its Debian package and the command that installs it."""
    absent = [p for p in programs if not which(p)]
    if absent:
        packages = sorted({PACKAGES.get(p, p) for p in absent})
        raise Missing(
            f"the one-node cluster needs {', '.join(absent)}, not installed here: apt-get install "
            f"{' '.join(packages)} (as root; `python -m logitrepro.cluster install` does it)"
        )


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie has exited: it only waits for its parent to read its status
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def read_pid(pidfile: Path) -> int | None:
    """The pid a pid file names when that process still runs, else None."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def start_daemon(name: str, cmd: list[str], state: Path, env: dict | None = None) -> int:
    """Start `cmd` in the foreground of a session of its own (its own process group: a stop reaches
    its workers too), its output in logs/<name>.log, its pid in run/<name>.pid."""
    (state / "logs").mkdir(parents=True, exist_ok=True)
    (state / "run").mkdir(parents=True, exist_ok=True)
    with open(state / "logs" / f"{name}.log", "ab") as log:
        p = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {}), DAEMON_MARKER: str(state)},
            start_new_session=True,
            cwd=state,
        )
    (state / "run" / f"{name}.pid").write_text(f"{p.pid}\n")
    return p.pid


def log_tail(state: Path, name: str, lines: int = 15) -> str:
    try:
        return "\n".join((state / "logs" / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(check: Callable[[], bool], what: str, timeout_s: float, state: Path, log_name: str) -> None:
    """Poll `check` until it holds; past `timeout_s` fail naming `what` and the end of its log."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{what} did not come up within {timeout_s:g} s; the end of {state / 'logs' / log_name}.log:\n"
                + log_tail(state, log_name)
            )
        time.sleep(0.5)


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def run(cmd: list[str], env: dict | None = None, check: bool = True, timeout: float = 120, **kw):
    """A short command whose failure names it and what it printed."""
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {(p.stderr or p.stdout).strip()[-2000:]}")
    return p


def processes_of(state: Path) -> list[int]:
    """Processes whose environment carries this cluster's marker, and their descendants."""
    marked, parents = set(), {}
    wanted = f"{DAEMON_MARKER}={state}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                marked.add(pid)
            parents[pid] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, grew = set(marked), True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in found and pid not in found}
        found |= more
        grew = bool(more)
    return sorted(pid for pid in found if pid_alive(pid))


def terminate(pids: list[int], timeout_s: float = 20, groups: bool = True) -> list[int]:
    """SIGTERM (with `groups`, their process groups too), then SIGKILL what is left after
    `timeout_s`; the pids still alive after that."""
    for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 5)):
        for pid in pids:
            for kill in (os.killpg, os.kill) if groups else (os.kill,):
                try:
                    kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
            time.sleep(0.2)
        pids = [p for p in pids if pid_alive(p)]
        if not pids:
            break
    return pids


def stop_daemon(name: str, state: Path, timeout_s: float = 20, group: bool = True) -> None:
    """Stop a daemon start_daemon started, with its process group unless `group` is false (slurmd:
    the jobs it started keep running, as when its service stops on a cluster node)."""
    pidfile = state / "run" / f"{name}.pid"
    pid = read_pid(pidfile)
    if pid is not None:
        left = terminate([pid], timeout_s, groups=group)
        if left:
            raise RuntimeError(f"{name} (pid {pid}) did not stop")
    pidfile.unlink(missing_ok=True)
