"""The layering of the house, read from the code's own import statements.

``twin`` (model, store, formats, analyses, API, command line) never imports the pipelines
(``ingest``) or the viewer (``viewer``): their commands join ``twin``'s through the
``twin.commands`` entry points. No module of the three packages imports, however indirectly,
one that imports it back (the store depends on the model, never the reverse), and none imports
a module named by a string. Every reader of a twin goes through the store protocol: outside
``twin/store``, no module of ``twin`` or ``viewer`` imports a store backend
(``twin.store.gpkg*``) or opens the GeoPackage itself (``sqlite3``, ``pyogrio``). Only
``twin/files.py`` renames files: every writer writes through it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

TWIN = ROOT / "twin"
VIEWER = ROOT / "viewer"
PACKAGES = ("twin", "ingest", "viewer")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: module name -> its file, for every Python module of ``twin``, ``ingest`` and ``viewer``
MODULES = {
    _module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))
}


def _imports(path: Path) -> set[str]:
    """The modules of the three packages that ``path`` imports anywhere in it (inside
    functions and ``TYPE_CHECKING`` blocks too): ``from twin.a import b`` names ``twin.a.b``
    when that is a module, else ``twin.a``. The parent packages Python also runs on the way
    are left out."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            subs = {f"{base}.{alias.name}" for alias in node.names} & MODULES.keys()
            found |= subs or {base}
    return found & MODULES.keys()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module, or of one that imports
    itself (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph[node]:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_twin_imports_neither_ingest_nor_viewer():
    graph = {name: _imports(path) for name, path in MODULES.items()}
    assert "twin.cli.options" in graph["viewer.cli.render"]  # the graph crosses packages
    wrong = {
        name: sorted(m for m in graph[name] if m.split(".")[0] in ("ingest", "viewer"))
        for name in graph
        if name.split(".")[0] == "twin"
    }
    assert {name: found for name, found in wrong.items() if found} == {}


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    # model -> store -> gpkg -> model is the cycle; errors, imported by all three, is not in it
    graph = {
        "model": {"store", "errors"},
        "store": {"gpkg", "errors"},
        "gpkg": {"model", "errors"},
        "errors": set(),
        "self": {"self"},
    }
    assert sorted(_cycles(graph)) == [["gpkg", "model", "store"], ["self"]]


def test_no_module_imports_itself_back():
    graph = {name: _imports(path) - {name} for name, path in MODULES.items()}
    assert "twin.model" in graph["twin.store.gpkg"]  # the graph holds the imports it should
    assert "ingest.config" in graph["ingest.pipeline"]
    assert _cycles(graph) == []


def test_the_model_knows_no_store_and_the_analyses_no_processes():
    graph = {name: _imports(path) for name, path in MODULES.items()}
    assert not {m for m in graph["twin.model"] if m.startswith("twin.store")}
    analyses = [name for name in graph if name.startswith("twin.analysis")]
    wrong = {
        name: sorted(m for m in graph[name] if m.startswith(("twin.processes", "twin.store")))
        for name in analyses
    }
    assert {name: found for name, found in wrong.items() if found} == {}


def test_no_module_is_imported_by_a_string():
    # the registry imports its adapters with import statements, and the command line finds
    # its commands through entry points (twin.cli.plugins): nothing calls import_module
    wrong = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = isinstance(node, ast.Attribute) and node.attr == "import_module"
            called |= isinstance(node, ast.Name) and node.id == "__import__"
            called |= isinstance(node, ast.ImportFrom) and any(
                alias.name == "import_module" for alias in node.names
            )
            if called:
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert wrong == []
    assert {"twin.processes.trench", "twin.processes.coordination", "twin.processes.parcels"} <= (
        _imports(MODULES["twin.processes.registry"])
    )


def test_importing_the_registry_loads_no_analysis_until_it_is_asked():
    # the API imports twin.processes when it starts; the analyses (geopandas, scipy) load on
    # the first call of processes(), with the three adapters, in a fresh interpreter
    script = (
        "import sys, twin.processes as p\n"
        "def loaded(): return sorted(m for m in sys.modules if m.startswith('twin.analysis'))\n"
        "print(loaded(), 'geopandas' in sys.modules)\n"
        "print(list(p.processes()), 'twin.analysis.trench' in loaded())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [
        "[] False",
        "['parcel-buildings', 'trench-check', 'works-coordination'] True",
    ]


def _imported_names(path: Path) -> list[tuple[int, str]]:
    """Every module name ``path`` imports, absolute, with its line (``from a import b``
    names ``a`` and ``a.b``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def test_only_the_store_reads_the_geopackage():
    store = TWIN / "store"
    sources = TWIN / "vector.py"  # reads source files (footprints, trenches), never a twin
    wrong = []
    for path in sorted([*TWIN.rglob("*.py"), *VIEWER.rglob("*.py")]):
        if path.is_relative_to(store) or path == sources:
            continue
        for line, name in _imported_names(path):
            backend = name.startswith("twin.store.gpkg")
            direct = name.split(".")[0] in ("sqlite3", "pyogrio")
            if backend or direct:
                wrong.append(f"{path.relative_to(TWIN.parent)}:{line}: {name}")
    assert wrong == []
    # the check sees what it should: the backend itself reads with both
    names = {name for _, name in _imported_names(store / "gpkg_features.py")}
    assert "sqlite3" in names and "twin.store.gpkg_cql.SQLCompiler" in names


def _renames(path: Path) -> list[int]:
    """The lines of ``path`` that rename a file: ``os.replace``, ``os.rename``,
    ``shutil.move``, or ``x.rename(y)`` and ``x.replace(y)`` with one argument (as
    ``Path.rename``; a frame's ``rename`` takes ``columns=``, a string's ``replace`` two)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        named = ast.unparse(node.func) in ("os.replace", "os.rename", "os.renames", "shutil.move")
        method = node.func.attr in ("rename", "replace") and len(node.args) == 1
        if named or (method and not node.keywords):
            lines.append(node.lineno)
    return lines


def test_only_the_file_helpers_rename_files():
    """Every writer goes through ``twin.files`` (``atomic``, ``atomic_group``), whose
    temporaries the next run clears when a run is killed; none renames a file of its own."""
    helpers = TWIN / "files.py"
    wrong = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in MODULES.values()
        if path != helpers
        for line in _renames(path)
    ]
    assert wrong == []
    assert _renames(helpers) != []  # the check sees what it should: the helpers' renames
