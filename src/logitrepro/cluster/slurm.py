"""SLURM with accounting on this one machine: munge with a key of its own, MariaDB holding the
accounting database, slurmdbd, slurmctld and one slurmd, configured for this host's cores and
memory, GPUs declared as gres only where the host has them.

Everything runs as the user who starts it (root: slurmd starts jobs as their submitter) and without
cgroups, which containers often lack: processes are tracked through /proc (proctrack/linuxproc),
tasks are not bound (task/none), usage is read from /proc (jobacct_gather/linux). Memory is still a
consumable resource (CR_Core_Memory), so a job's --mem is booked against the node as on a cluster.
The daemons talk over loopback only (NoInAddrAny: they bind the address the node resolves to,
127.0.0.1). Clients find this cluster through SLURM_CONF (`python -m logitrepro.cluster env`).
"""

from __future__ import annotations

import re
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .services import PORTS, Ports, read_pid, require, run, start_daemon, stop_daemon, wait_until

CLUSTER = "logitrepro"
PARTITION = "main"
ACCOUNT = "logitrepro"
DATABASE = "slurm_acct_db"
PROGRAMS = [
    "munged",
    "mungekey",
    "munge",
    "unmunge",
    "mariadbd",
    "mariadb-install-db",
    "mariadb",
    "slurmdbd",
    "slurmctld",
    "slurmd",
]
PROGRAMS += ["sbatch", "sacct", "sacctmgr", "scontrol", "squeue", "scancel"]
# bind the address the host name resolves to, not every address (NoCtldInAddrAny: slurmctld too)
LOOPBACK_ONLY = "NoInAddrAny,NoCtldInAddrAny"
MUNGE_SOCKET = "/run/munge/munge.socket.2"
MIB_KEPT_FOR_THE_SYSTEM = 1024  # not offered to jobs: the daemons, the submit host's own rules
# How long a daemon may take to answer after it starts: seconds on an idle machine, minutes on a
# CI machine of 2 cores busy with other work (MariaDB's first start writes its files)
STARTUP_S = 240


def node_hardware(slurmd_c: str) -> dict[str, int]:
    """CPUs, board, socket, core, thread counts and RealMemory (MiB) from `slurmd -C`'s first line."""
    first = slurmd_c.strip().splitlines()[0]
    found = dict(re.findall(r"(\w+)=(\S+)", first))
    keys = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory")
    return {k: int(found[k]) for k in keys if k in found}


def gpu_devices(dev: Path = Path("/dev")) -> list[str]:
    """The host's NVIDIA GPUs as device files (/dev/nvidia0, ...); none on a machine without them."""
    return sorted((str(p) for p in dev.glob("nvidia[0-9]*")), key=lambda s: int(s.rsplit("nvidia", 1)[1]))


def resolves_to_loopback(name: str) -> bool:
    """SLURM's NoInAddrAny binds the address the host name resolves to: loopback only if that is."""
    try:
        return socket.gethostbyname(name).startswith("127.")
    except OSError:
        return False


def paths(state: Path) -> dict[str, Path]:
    s = state / "slurm"
    return {
        "conf": s / "slurm.conf",
        "dbd_conf": s / "slurmdbd.conf",
        "gres_conf": s / "gres.conf",
        "ctld_spool": s / "ctld",
        "d_spool": s / "d",
        "munge_key": state / "munge" / "munge.key",
        "mariadb_data": state / "mariadb" / "data",
        "mariadb_socket": state / "mariadb" / "mariadb.sock",
        "db_password": state / "mariadb" / "slurm.password",
    }


def slurm_conf(
    state: Path, host: str, hardware: dict[str, int], gpus: list[str], loopback: bool = True, ports: Ports = PORTS
) -> str:
    """slurm.conf for one node named `host` at 127.0.0.1 with `hardware` (node_hardware) and `gpus`;
    `loopback`: the daemons bind the address `host` resolves to (127.0.0.1), not every address."""
    p = paths(state)
    memory = max(hardware.get("RealMemory", 1024) - MIB_KEPT_FOR_THE_SYSTEM, 512)
    node = " ".join(f"{k}={v}" for k, v in hardware.items() if k != "RealMemory")
    gres = f" Gres=gpu:{len(gpus)}" if gpus else ""
    lines = [
        f"ClusterName={CLUSTER}",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={ports.slurmctld}",
        f"SlurmdPort={ports.slurmd}",
        *([f"CommunicationParameters={LOOPBACK_ONLY}"] if loopback else []),
        "AuthType=auth/munge",
        "CredType=cred/munge",
        "SlurmUser=root",
        "SlurmdUser=root",
        f"StateSaveLocation={p['ctld_spool']}",
        f"SlurmdSpoolDir={p['d_spool']}",
        f"SlurmctldPidFile={state / 'run' / 'slurmctld.own.pid'}",
        f"SlurmdPidFile={state / 'run' / 'slurmd.own.pid'}",
        f"SlurmctldLogFile={state / 'logs' / 'slurmctld.log'}",
        f"SlurmdLogFile={state / 'logs' / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/linux",
        "JobAcctGatherFrequency=10",
        "AccountingStorageType=accounting_storage/slurmdbd",
        "AccountingStorageHost=127.0.0.1",
        f"AccountingStoragePort={ports.slurmdbd}",
        "AccountingStorageEnforce=associations",
        "AccountingStoreFlags=job_comment",  # sacct shows the executor's comment: the rule of each job
        f"AccountingStorageTRES=cpu,mem,node{',gres/gpu' if gpus else ''}",
        "JobCompType=jobcomp/none",
        "SchedulerType=sched/backfill",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "MpiDefault=none",
        "ReturnToService=2",
        # a job whose node went away (slurmd stopped) is requeued, not failed, once it is back
        "SlurmdTimeout=120",
        "MinJobAge=600",  # squeue still shows a finished job for 10 minutes
        "KillWait=10",
        # a busy machine of few cores starts a slurmstepd in seconds, not milliseconds: slurmctld waits
        # for a launch's answer this long (10 s by default) before it gives the launch up and
        # requeues the job, and the job slurmd did start is then killed
        "MessageTimeout=60",
        "BatchStartTimeout=60",
        f"PlugStackConfig={state / 'slurm' / 'plugstack.conf'}",
        # the type always (a GPU request is then valid, and refused only for want of a node that has
        # one, as on a cluster whose GPU nodes are busy or absent); GPUs only on a node with them
        "GresTypes=gpu",
        f"NodeName={host} NodeAddr=127.0.0.1 {node} RealMemory={memory}{gres} State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes={host} Default=YES MaxTime=INFINITE State=UP",
    ]
    return "\n".join(lines) + "\n"


def gres_conf(gpus: list[str]) -> str:
    return "AutoDetect=off\n" + "".join(f"Name=gpu File={g}\n" for g in gpus)


def slurmdbd_conf(state: Path, password: str, loopback: bool = True, ports: Ports = PORTS) -> str:
    return (
        "\n".join(
            [
                "AuthType=auth/munge",
                *(["CommunicationParameters=NoInAddrAny"] if loopback else []),
                "DbdAddr=127.0.0.1",
                "DbdHost=localhost",
                f"DbdPort={ports.slurmdbd}",
                "SlurmUser=root",
                f"LogFile={state / 'logs' / 'slurmdbd.log'}",
                f"PidFile={state / 'run' / 'slurmdbd.own.pid'}",
                "StorageType=accounting_storage/mysql",
                "StorageHost=127.0.0.1",
                f"StoragePort={ports.mariadb}",
                "StorageUser=slurm",
                f"StoragePass={password}",
                f"StorageLoc={DATABASE}",
            ]
        )
        + "\n"
    )


# SLURM's commands read this file when SLURM_CONF is not set. The Snakemake SLURM job step
# (snakemake-executor-plugin-slurm-jobstep 0.6) drops every SLURM_* variable but the job's ids
# before its srun, SLURM_CONF included: that srun finds this cluster only here.
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")


def claim_default_conf(state: Path, default: Path = DEFAULT_CONF) -> None:
    """Point the default slurm.conf at this cluster's (a link), unless the host has a slurm.conf of
    its own: then this machine belongs to a SLURM cluster already, which is left alone."""
    ours = paths(state)["conf"]
    if default.is_symlink() and "logitrepro" in str(default.readlink()):
        default.unlink()  # a link an earlier one-node cluster left (its stop was never run)
    if default.exists():
        raise RuntimeError(
            f"{default} exists: this machine is configured for a SLURM cluster already, and a job's srun "
            "reads that file (the Snakemake SLURM job step drops SLURM_CONF); use that cluster, or move "
            "the file aside while the one-node cluster runs"
        )
    default.parent.mkdir(parents=True, exist_ok=True)
    default.symlink_to(ours)


def release_default_conf(state: Path, default: Path = DEFAULT_CONF) -> None:
    if default.is_symlink() and default.readlink() == paths(state)["conf"]:
        default.unlink()


def client_env(state: Path) -> dict[str, str]:
    """What SLURM's commands (sbatch, sacct, ...) need to find this cluster."""
    return {"SLURM_CONF": str(paths(state)["conf"])}


def write_configs(state: Path, log=print) -> None:
    p = paths(state)
    for d in ("ctld_spool", "d_spool"):
        p[d].mkdir(parents=True, exist_ok=True)
    host = node_name()
    hardware = node_hardware(run(["slurmd", "-C"]).stdout)
    gpus = gpu_devices()
    loopback = resolves_to_loopback(socket.gethostname())
    if not loopback:
        log(
            f"slurm: this host's name {socket.gethostname()} does not resolve to a loopback address, so the SLURM "
            "daemons listen on every address (munge still authenticates every request); add it to /etc/hosts "
            "as 127.0.0.1 to keep them on loopback"
        )
    p["conf"].write_text(slurm_conf(state, host, hardware, gpus, loopback))
    (state / "slurm" / "plugstack.conf").write_text("")  # not the host's /etc/slurm plug-ins
    if gpus:
        p["gres_conf"].write_text(gres_conf(gpus))
    else:
        p["gres_conf"].unlink(missing_ok=True)
    if not p["db_password"].exists():
        p["db_password"].parent.mkdir(parents=True, exist_ok=True)
        p["db_password"].write_text(secrets.token_hex(16))
        p["db_password"].chmod(0o600)
    p["dbd_conf"].write_text(slurmdbd_conf(state, p["db_password"].read_text().strip(), loopback))
    p["dbd_conf"].chmod(0o600)  # slurmdbd refuses a config others can read (it holds the password)
    memory = p["conf"].read_text().split("RealMemory=")[1].split()[0]
    log(
        f"slurm: node {host} ({hardware.get('CPUs')} CPUs, {memory} MiB for jobs, "
        f"{len(gpus)} GPUs), partition {PARTITION}, account {ACCOUNT}"
    )


def munge_answers() -> bool:
    encode = subprocess.run(["munge", "-n"], capture_output=True, timeout=30)
    if encode.returncode != 0:
        return False
    return subprocess.run(["unmunge"], input=encode.stdout, capture_output=True, timeout=30).returncode == 0


def start_munge(state: Path) -> None:
    """munged on the default socket, with a key of this cluster's; a munged that answers there
    already (the host's own) serves as well: every daemon here asks the same one.

    The default socket, not one in the state folder: SLURM 22.05's clients take the socket from
    AuthInfo for slurmctld but not for slurmdbd, so sacct and sacctmgr only find munge there."""
    p = paths(state)
    if read_pid(state / "run" / "munged.pid") or munge_answers():
        return
    p["munge_key"].parent.mkdir(parents=True, exist_ok=True)
    p["munge_key"].parent.chmod(0o700)
    if not p["munge_key"].exists():
        run(["mungekey", "--create", f"--keyfile={p['munge_key']}"])
    p["munge_key"].chmod(0o600)
    munge_dir = p["munge_key"].parent
    Path(MUNGE_SOCKET).parent.mkdir(parents=True, exist_ok=True)
    start_daemon(
        "munged",
        ["munged", "--foreground", "--force", f"--key-file={p['munge_key']}", f"--socket={MUNGE_SOCKET}"]
        + [f"--pid-file={munge_dir / 'munged.pid'}", f"--seed-file={munge_dir / 'munged.seed'}"]
        + [f"--log-file={state / 'logs' / 'munged.own.log'}"],
        state,
    )
    wait_until(munge_answers, "munged", 60, state, "munged")


def start_mariadb(state: Path, ports: Ports = PORTS) -> None:
    p = paths(state)
    if read_pid(state / "run" / "mariadbd.pid"):
        return
    if not (p["mariadb_data"] / "mysql").exists():
        p["mariadb_data"].mkdir(parents=True, exist_ok=True)
        run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={p['mariadb_data']}", "--user=root"]
            + ["--skip-test-db", "--auth-root-authentication-method=socket"],
            timeout=300,
        )
    start_daemon(
        "mariadbd",
        ["mariadbd", "--no-defaults", f"--datadir={p['mariadb_data']}", f"--socket={p['mariadb_socket']}"]
        + [f"--port={ports.mariadb}", "--bind-address=127.0.0.1", "--user=root", "--skip-name-resolve"]
        + [f"--pid-file={state / 'run' / 'mariadbd.own.pid'}", "--innodb-buffer-pool-size=64M"]
        + ["--innodb-lock-wait-timeout=900", "--max-connections=50"],
        state,
    )
    wait_until(p["mariadb_socket"].exists, "mariadbd", STARTUP_S, state, "mariadbd")
    password = p["db_password"].read_text().strip()
    sql = (
        f"CREATE DATABASE IF NOT EXISTS {DATABASE}; "
        f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{password}'; "
        f"GRANT ALL ON {DATABASE}.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
    )
    run(["mariadb", "--no-defaults", f"--socket={p['mariadb_socket']}", "-u", "root", "-e", sql])


def sacctmgr(state: Path, *args: str, check: bool = True):
    return run(["sacctmgr", "-i", *args], env=client_env(state), check=check)


def listed(state: Path, entity: str, name: str) -> bool:
    out = run(["sacctmgr", "-n", "-P", "list", entity, f"format={entity}"], env=client_env(state)).stdout
    return name in out.split()


def start_slurmdbd(state: Path, ports: Ports = PORTS) -> None:
    if read_pid(state / "run" / "slurmdbd.pid"):
        return
    start_daemon("slurmdbd", ["slurmdbd", "-D"], state, env={"SLURM_CONF": str(paths(state)["conf"])})

    def answers() -> bool:
        return run(["sacctmgr", "-n", "list", "cluster"], env=client_env(state), check=False).returncode == 0

    wait_until(answers, "slurmdbd", STARTUP_S, state, "slurmdbd")
    if not listed(state, "cluster", CLUSTER):
        sacctmgr(state, "add", "cluster", CLUSTER)


def start_slurmctld(state: Path) -> None:
    if read_pid(state / "run" / "slurmctld.pid"):
        return
    start_daemon("slurmctld", ["slurmctld", "-D", "-i", "-f", str(paths(state)["conf"])], state, env=client_env(state))

    def answers() -> bool:
        return run(["scontrol", "ping"], env=client_env(state), check=False).stdout.count("UP") > 0

    wait_until(answers, "slurmctld", STARTUP_S, state, "slurmctld")
    if not listed(state, "account", ACCOUNT):
        sacctmgr(state, "add", "account", ACCOUNT, f"cluster={CLUSTER}", "description=logitrepro")
    user = run(["id", "-un"]).stdout.strip()
    associations = run(
        ["sacctmgr", "-n", "-P", "list", "association", f"account={ACCOUNT}", "format=user"], env=client_env(state)
    ).stdout.split()
    if user not in associations:
        sacctmgr(state, "add", "user", user, f"account={ACCOUNT}", f"defaultaccount={ACCOUNT}", f"cluster={CLUSTER}")


def node_name() -> str:
    return socket.gethostname().split(".")[0]


def slurmd_start_time(state: Path, host: str) -> float | None:
    """When the slurmd that last registered with slurmctld started (epoch seconds), None before any has."""
    env = {**client_env(state), "SLURM_TIME_FORMAT": "standard"}  # a user's own format set aside
    out = run(["scontrol", "-o", "show", "node", host], env=env, check=False).stdout
    found = re.search(r"SlurmdStartTime=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", out)
    return time.mktime(time.strptime(found.group(1), "%Y-%m-%dT%H:%M:%S")) if found else None


def start_slurmd(state: Path) -> None:
    """slurmd, and its node in service once it has registered.

    A node that is down or drained (an earlier stop, a restart for maintenance) is resumed only
    after this slurmd has registered: resumed before, slurmctld would send the queued jobs to a
    slurmd that does not listen yet, and a batch job whose launch finds no slurmd is requeued."""
    host = node_name()
    launched = None
    if not read_pid(state / "run" / "slurmd.pid"):
        launched = int(time.time())
        start_daemon(
            "slurmd", ["slurmd", "-D", "-N", host, "-f", str(paths(state)["conf"])], state, env=client_env(state)
        )

    def in_service() -> bool:
        if launched is not None and (slurmd_start_time(state, host) or 0) < launched:
            return False  # this slurmd has not registered yet
        out = run(["sinfo", "-h", "-N", "-o", "%T"], env=client_env(state), check=False).stdout.split()
        if any(s.startswith(("down", "drain")) for s in out):
            run(["scontrol", "update", f"nodename={host}", "state=resume"], env=client_env(state), check=False)
        return any(s in ("idle", "mixed", "allocated") for s in out)

    wait_until(in_service, "slurmd (registered, the node in service in sinfo)", STARTUP_S, state, "slurmd")


def stop_slurmd(state: Path) -> None:
    """slurmd alone, the jobs it started left running (as a node's service stopping leaves them)."""
    stop_daemon("slurmd", state, timeout_s=30, group=False)


def start(state: Path, log=print) -> None:
    require(PROGRAMS + ["sinfo"])
    write_configs(state, log)
    if not (DEFAULT_CONF.is_symlink() and DEFAULT_CONF.readlink() == paths(state)["conf"]):
        claim_default_conf(state)
    for name, step in (
        ("munged", start_munge),
        ("mariadbd", start_mariadb),
        ("slurmdbd", start_slurmdbd),
        ("slurmctld", start_slurmctld),
        ("slurmd", start_slurmd),
    ):
        was = read_pid(state / "run" / f"{name}.pid")
        step(state)
        log(f"slurm: {name} {'was running' if was else 'started'} (log {state / 'logs' / name}.log)")


def cancel_all_jobs(state: Path, timeout_s: float = 60) -> None:
    """Cancel every job, and wait until none runs, so that no job outlives the daemons."""
    env = client_env(state)
    if run(["scontrol", "ping"], env=env, check=False).stdout.count("UP") == 0:
        return
    jobs = run(["squeue", "-h", "-o", "%A"], env=env, check=False).stdout.split()
    if not jobs:
        return
    run(["scancel", "--full", *jobs], env=env, check=False)
    try:
        wait_until(
            lambda: not run(["squeue", "-h", "-o", "%A"], env=env, check=False).stdout.split(),
            "the end of every job",
            timeout_s,
            state,
            "slurmctld",
        )
    except RuntimeError:
        pass  # stop's sweep of every process the daemons started ends them


def stop(state: Path, log=print) -> None:
    if not state.exists():
        return
    if shutil.which("squeue") and paths(state)["conf"].exists():
        cancel_all_jobs(state)
    for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
        stop_daemon(name, state, timeout_s=30)
        log(f"slurm: {name} stopped")
    release_default_conf(state)
