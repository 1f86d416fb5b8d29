"""python -m logitrepro.cluster start|stop|status|env|install

start    SLURM (munge, MariaDB, slurmdbd, slurmctld, slurmd) and the MLflow server on PostgreSQL;
         what runs already is left running (start twice = start once)
stop     both, every job cancelled first; fails naming any process of theirs still running
status   what runs, one line each
env      the shell lines that point SLURM's commands and MLflow at them:  eval "$(... env)"
install  the Debian packages they need (as root; waits for a package lock another apt-get holds)
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from . import slurm, tracking_server
from .services import PACKAGES, Missing, processes_of, read_pid, state_dir, terminate


def environment() -> dict[str, str]:
    return {**slurm.client_env(state_dir()), "MLFLOW_TRACKING_URI": tracking_server.tracking_uri()}


def start() -> None:
    if os.geteuid() != 0:
        raise Missing(
            "start: the one-node cluster runs its daemons as root (slurmd starts each job as the user "
            "who submitted it); run it as root"
        )
    state = state_dir()
    state.mkdir(parents=True, exist_ok=True)
    slurm.start(state, log=note)
    tracking_server.start(state, log=note)
    note(f'started; in your shell: eval "$({sys.executable} -m logitrepro.cluster env)"')


def stop() -> None:
    state = state_dir()
    slurm.stop(state, log=note)
    tracking_server.stop(state, log=note)
    left = processes_of(state)
    if left:  # a job's processes, a server's worker: started by the daemons, outliving them
        left = terminate(left)
    if left:
        raise RuntimeError(f"still running after stop: pids {', '.join(map(str, left))}")
    note("stopped; nothing of the cluster runs")


def status() -> int:
    state = state_dir()
    down = 0
    for name in ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "mlflow"):
        pid = read_pid(state / "run" / f"{name}.pid")
        down += pid is None
        print(f"{name:10} {'pid ' + str(pid) if pid else 'not running'}")
    pg = tracking_server.postgres_running(state) if (state / "postgres" / "data").exists() else False
    print(f"{'postgres':10} {'running' if pg else 'not running'}")
    return 0 if down == 0 and pg else 1


def install() -> None:
    from ..data.offline import System, _Apt

    system = System()
    packages = sorted({PACKAGES[p] for p in PACKAGES if not system.has(p)})
    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        packages.append("postgresql")
    if not packages:
        note("install: every package is installed")
        return
    if not system.is_root():
        raise Missing(f"install: not root; as root: apt-get install {' '.join(packages)}")
    apt = _Apt(system, log=note)
    ok, detail = apt.update()
    if ok:
        ok, detail = apt.run(["install", "-y", "-qq", "--no-install-recommends", *packages])
    if not ok:
        raise Missing(f"install: apt-get install {' '.join(packages)} failed: {detail}")
    note(f"install: installed {' '.join(packages)}")


def note(message: str) -> None:
    print(f"cluster: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m logitrepro.cluster", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "env", "install"])
    args = parser.parse_args(argv)
    try:
        if args.command == "env":
            print("".join(f"export {k}={shlex.quote(v)}\n" for k, v in environment().items()), end="")
            return 0
        if args.command == "status":
            return status()
        {"start": start, "stop": stop, "install": install}[args.command]()
    except (Missing, RuntimeError) as e:
        note(str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
