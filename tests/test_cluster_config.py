"""The one-node cluster's configuration, written for the host it runs on (logitrepro.cluster), and
the cluster page's commands (docs/cluster.md) being those `make test-cluster` runs. No daemon starts here."""

from pathlib import Path

import pytest

from logitrepro.cluster.services import Missing, require
from logitrepro.cluster.slurm import gpu_devices, gres_conf, node_hardware, slurm_conf, slurmdbd_conf
from tests.support import PROJECT

SLURMD_C = (
    "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105\n"
    "UpTime=0-06:17:33\n"
)


def test_the_node_is_the_hosts_cores_and_memory_less_what_the_system_keeps():
    hardware = node_hardware(SLURMD_C)
    assert hardware == {
        "CPUs": 2,
        "Boards": 1,
        "SocketsPerBoard": 1,
        "CoresPerSocket": 2,
        "ThreadsPerCore": 1,
        "RealMemory": 24105,
    }
    conf = slurm_conf(Path("/s"), "vm", hardware, [])
    node = next(line for line in conf.splitlines() if line.startswith("NodeName="))
    assert "NodeAddr=127.0.0.1 CPUs=2 " in node and "RealMemory=23081" in node
    assert "PartitionName=main Nodes=vm Default=YES" in conf
    assert "AccountingStorageType=accounting_storage/slurmdbd" in conf


def test_gpus_are_gres_only_where_the_host_has_them(tmp_path):
    hardware = node_hardware(SLURMD_C)
    without = slurm_conf(Path("/s"), "vm", hardware, [])
    node = next(line for line in without.splitlines() if line.startswith("NodeName="))
    assert "Gres=" not in node and "gres/gpu" not in without and "GresTypes=gpu" in without
    for name in ("nvidia1", "nvidia0", "nvidiactl", "nvidia-uvm", "nvidia10"):
        (tmp_path / name).touch()
    gpus = gpu_devices(tmp_path)
    assert [Path(g).name for g in gpus] == ["nvidia0", "nvidia1", "nvidia10"]
    conf = slurm_conf(Path("/s"), "vm", hardware, gpus)
    assert "GresTypes=gpu" in conf and " Gres=gpu:3 " in conf and "gres/gpu" in conf
    assert gres_conf(gpus).splitlines()[1:] == [f"Name=gpu File={g}" for g in gpus]


def test_the_daemons_bind_loopback_when_the_host_name_resolves_there():
    hardware = node_hardware(SLURMD_C)
    assert "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny" in slurm_conf(Path("/s"), "vm", hardware, [])
    assert "CommunicationParameters" not in slurm_conf(Path("/s"), "vm", hardware, [], loopback=False)
    dbd = slurmdbd_conf(Path("/s"), "pw")
    assert "DbdAddr=127.0.0.1" in dbd and "StorageHost=127.0.0.1" in dbd and "NoInAddrAny" in dbd


def test_a_missing_program_is_named_with_its_package():
    with pytest.raises(Missing, match=r"needs slurmctld, munged, not installed here: apt-get install munge slurmctld"):
        require(["slurmctld", "munged", "sbatch"], which=lambda p: "/usr/bin/sbatch" if p == "sbatch" else None)
    require(["sbatch"], which=lambda p: "/usr/bin/" + p)


def test_the_cluster_page_gives_the_commands_the_cluster_test_runs():
    from tests.cluster.test_cluster import README_COMMANDS

    page = PROJECT.joinpath("docs", "cluster.md").read_text()
    section = page.split("## On a cluster of your own machine", 1)[1].split("\n## ", 1)[0]
    lines = [line.strip() for line in section.replace("\\\n", " ").splitlines()]
    commands = [" ".join(line.split()) for line in lines if line]
    positions = [commands.index(c) for c in README_COMMANDS]
    assert positions == sorted(positions), commands


def test_the_default_slurm_conf_is_linked_only_where_the_host_has_none(tmp_path):
    from logitrepro.cluster.slurm import claim_default_conf, paths, release_default_conf

    state, default = tmp_path / "logitrepro-state", tmp_path / "etc" / "slurm.conf"
    claim_default_conf(state, default)  # a job step's srun finds the cluster there
    assert default.readlink() == paths(state)["conf"]
    claim_default_conf(state, default)  # a link an earlier cluster left is replaced
    release_default_conf(state, default)
    assert not default.exists() and not default.is_symlink()
    default.write_text("ClusterName=site\n")  # a SLURM host's own: left alone, and said
    with pytest.raises(RuntimeError, match="configured for a SLURM cluster already"):
        claim_default_conf(state, default)
    release_default_conf(state, default)
    assert default.read_text() == "ClusterName=site\n"


def test_make_test_cluster_says_in_one_line_that_it_needs_root():
    """Before it installs or starts anything; as root, the check is made as the user nobody."""
    import os
    import shutil
    import subprocess
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="logitrepro-make-"))  # a folder nobody can read
    try:
        folder.chmod(0o755)
        shutil.copy(PROJECT / "Makefile", folder / "Makefile")
        cmd = ["make", "-n", "-C", str(folder), "test-cluster"]
        if os.geteuid() == 0:
            if not shutil.which("setpriv"):
                pytest.skip("setpriv (util-linux) is needed to run make as another user")
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert p.returncode != 0 and "apt-get" not in p.stdout, p.stdout
    said = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(said) == 1 and "make test-cluster needs root" in said[0], p.stderr


def test_cluster_start_says_it_needs_root(monkeypatch, tmp_path, capsys):
    from logitrepro.cluster import __main__ as cluster

    monkeypatch.setattr(cluster.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("LOGITREPRO_CLUSTER_DIR", str(tmp_path / "state"))
    assert cluster.main(["start"]) == 1
    assert "runs its daemons as root" in capsys.readouterr().err
    assert not (tmp_path / "state").exists()  # nothing made, nothing started


def test_the_cluster_test_runs_only_when_its_marker_is_asked_for():
    from tests.cluster.test_cluster import asked_for

    assert asked_for("cluster") and asked_for("cluster and not gpu")
    for markexpr in ("", "not slow and not gpu", "not slow and not gpu and not cluster", "not cluster"):
        assert not asked_for(markexpr), markexpr
