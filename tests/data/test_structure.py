"""How logitrepro.data hangs together: no import circle, one writer per dataset, and the source
files each dataset's prepared content depends on."""

import ast
from pathlib import Path

import pytest

from logitrepro.data import registry
from logitrepro.data.registry import DATASETS, source_files
from tests.support import PROJECT

DATA_PACKAGE = PROJECT / "src" / "logitrepro" / "data"


def package_imports(path: Path) -> set[str]:
    """Modules of logitrepro.data that a file imports, wherever the import sits (top level, in a
    function, under TYPE_CHECKING): an import that runs late still ties the two modules."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("logitrepro.data."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith("logitrepro.data.")}
    return found


def test_no_import_circle_inside_the_data_package():
    graph = {p.stem: package_imports(p) for p in DATA_PACKAGE.glob("*.py")}
    circles = []

    def walk(module, path):
        for dep in sorted(graph.get(module, ())):
            if dep in path:
                circles.append(path[path.index(dep) :] + [dep])
            else:
                walk(dep, path + [dep])

    for module in sorted(graph):
        walk(module, [module])
    assert not circles, f"import circles: {sorted({' -> '.join(c) for c in circles})}"
    assert "registry" in graph["prepare"] and "prepare" not in graph["libsvm"]  # the circle this replaced


def test_every_dataset_names_its_writer():
    for name, dataset in DATASETS.items():
        assert callable(dataset.writer), name
    with pytest.raises(TypeError, match="writer"):
        registry.Dataset("x", "no writer")


def test_a_folder_override_for_a_dataset_without_folder_source_is_refused_clearly():
    with pytest.raises(registry.DataUnavailable, match="breast_cancer.*cannot be read from a folder"):
        DATASETS["breast_cancer"].override_source("/some/folder")


def test_source_files_are_each_datasets_own_modules_and_the_common_ones():
    common = {f"src/logitrepro/data/{m}.py" for m in ("prepare", "store", "checksum", "download", "registry")}
    for name in DATASETS:
        files = source_files(name)
        assert common <= set(files) and files == sorted(files), name
        assert all((PROJECT / f).is_file() for f in files), name
    own = {name: set(source_files(name)) - common for name in DATASETS}
    # idx.py is found from the code: sources.py imports it
    assert own["mnist"] == {"src/logitrepro/data/sources.py", "src/logitrepro/data/idx.py"}
    assert own["mushrooms"] == own["rcv1"] == {"src/logitrepro/data/libsvm.py"}
    assert own["shakespeare"] == own["wikitext103"] == {"src/logitrepro/data/text.py"}
    assert own["spambase"] == {"src/logitrepro/data/spambase.py"}
    assert own["m_competitions"] == {"src/logitrepro/data/forecasting.py"}
    assert own["seaquest_recorded"] == {"src/logitrepro/data/atari.py"}
    assert own["sb3_sac_hopper"] == {"src/logitrepro/data/experts.py"}
    assert "src/logitrepro/data/offline.py" not in {f for name in DATASETS for f in source_files(name)}
