"""What `make` gives the commands it runs."""

import os
import subprocess
import sys
from pathlib import Path

from tests.support import PROJECT

PROBE = "print-cache: ; @echo $$XDG_CACHE_HOME"


def cache_home(home: str, **env) -> str:
    """XDG_CACHE_HOME as the Makefile exports it to its commands, for this HOME."""
    base = {k: v for k, v in os.environ.items() if k != "XDG_CACHE_HOME"}
    cmd = ["make", "-s", "-C", str(PROJECT), "--eval", PROBE, "print-cache"]
    p = subprocess.run(cmd, env={**base, "HOME": home, **env}, capture_output=True, text=True, timeout=60, check=True)
    return p.stdout.strip()


def test_a_read_only_home_gets_a_cache_folder_that_snakemake_can_make(tmp_path):
    read_only = "/proc/self/fdinfo"  # not writable, even for root
    cache = cache_home(read_only)
    assert cache, "with HOME read-only, Snakemake stops on ~/.cache"
    (tmp_path / "Snakefile").write_text("rule all:\n    output:\n        'x'\n    shell:\n        'touch {output}'\n")
    env = {**os.environ, "HOME": read_only, "XDG_CACHE_HOME": cache}
    p = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-n"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr[-2000:]


def test_a_writable_home_and_a_chosen_cache_folder_are_left_alone(tmp_path):
    assert cache_home(str(tmp_path)) == ""  # Snakemake's default, ~/.cache, is fine
    assert cache_home("/proc/self/fdinfo", XDG_CACHE_HOME=str(tmp_path / "mine")) == str(tmp_path / "mine")
