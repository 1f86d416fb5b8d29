"""Which code a job runs: its task, the loop and what they import, found by reading the code."""

import shutil

from logitrepro import code_digest as cd


def copy_package(tmp_path, monkeypatch):
    dest = tmp_path / "logitrepro"
    shutil.copytree(cd.PACKAGE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cd, "PACKAGE", dest)
    cd.code_digest.cache_clear()
    return dest


def test_an_edit_to_a_task_or_what_it_imports_changes_its_digest_only(tmp_path, monkeypatch):
    pkg = copy_package(tmp_path, monkeypatch)
    before = {t: cd.code_digest(t) for t in ("cnn_svm", "fourier_toy", "sso_supervised")}
    with open(pkg / "kernels" / "squared_hinge.py", "a") as f:  # the SVM head's loss
        f.write("\n# an edit\n")
    cd.code_digest.cache_clear()
    after = {t: cd.code_digest(t) for t in before}
    assert after["cnn_svm"] != before["cnn_svm"]
    assert after["sso_supervised"] == before["sso_supervised"]  # it never imports that file
    with open(pkg / "tracking.py", "a") as f:  # where results are recorded does not shape them
        f.write("\n# an edit\n")
    with open(pkg / "claims" / "engine.py", "a") as f:  # nor does the verdict engine
        f.write("\n# an edit\n")
    cd.code_digest.cache_clear()
    assert {t: cd.code_digest(t) for t in before} == after
    cd.code_digest.cache_clear()


def test_an_import_added_to_a_task_brings_its_file_into_the_digest(tmp_path, monkeypatch):
    """Each module's imports are parsed once per state of its file: an edited module is read again."""
    pkg = copy_package(tmp_path, monkeypatch)
    before = cd.code_digest("sso_supervised")
    with open(pkg / "kernels" / "squared_hinge.py", "a") as f:  # not imported by the SSO task
        f.write("\n# an edit\n")
    cd.code_digest.cache_clear()
    assert cd.code_digest("sso_supervised") == before
    with open(pkg / "tasks" / "sso_supervised.py", "a") as f:
        f.write("\nfrom logitrepro.kernels import squared_hinge  # noqa\n")
    cd.code_digest.cache_clear()
    with_import = cd.code_digest("sso_supervised")
    with open(pkg / "kernels" / "squared_hinge.py", "a") as f:
        f.write("\n# another edit\n")
    cd.code_digest.cache_clear()
    assert len({before, with_import, cd.code_digest("sso_supervised")}) == 3
    cd.code_digest.cache_clear()


def test_the_training_command_and_its_start_and_end_stamps_are_outside_every_digest(tmp_path, monkeypatch):
    """cli.py stamps run.json (run_times.py) around train.train: an edit there, unlike one to
    train.py, trains no user's runs again."""
    pkg = copy_package(tmp_path, monkeypatch)
    tasks = [p.stem for p in (pkg / "tasks").glob("*.py") if p.stem != "__init__"]
    before = {t: cd.code_digest(t) for t in tasks}
    for name in ("cli.py", "run_times.py"):
        with open(pkg / name, "a") as f:
            f.write("\n# an edit\n")
    cd.code_digest.cache_clear()
    assert {t: cd.code_digest(t) for t in tasks} == before
    with open(pkg / "train.py", "a") as f:  # where a stamp written in the loop would have gone
        f.write("\n# an edit\n")
    cd.code_digest.cache_clear()
    assert all(cd.code_digest(t) != before[t] for t in tasks)
    cd.code_digest.cache_clear()
