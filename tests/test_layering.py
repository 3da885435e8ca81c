"""Import layering of the four packages, so it cannot regress.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``, import-linter): ``cliniloop.services.cli``
above ``cliniloop.services.evaluation`` above ``cliniloop.services.api`` above the loop, quality and scale-out
packages, above ``models | connectors`` (which never import each other), above ``cliniloop.services.core``
(plain types, settings, store), above ``taxonomies``. On top of that no two modules may import
each other, directly or through others, at run time; grimp reads every import statement, so an
import hidden inside a function counts (one under ``if TYPE_CHECKING:`` does not: it never runs).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp", reason="import-linter (test extra) is not installed")
pytest.importorskip("importlinter.api", reason="import-linter (test extra) is not installed")  # configures import-linter
from importlinter.application import use_cases  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
#: The four packages as they are imported (their folders are ROOT/<last name part>).
PACKAGES: tuple[str, ...] = tuple(CONFIG["root_packages"])


@pytest.fixture(scope="module")
def graph():
    # Imports under ``if TYPE_CHECKING:`` never run, so two modules may name each other's types;
    # the layering contracts still count them.
    return grimp.build_graph(*PACKAGES, cache_dir=None, exclude_type_checking_imports=True)


def _contract(contract_id: str) -> dict:
    return next(c for c in CONFIG["contracts"] if c["id"] == contract_id)


def test_import_contracts_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    kept = use_cases.lint_imports(config_filename=str(ROOT / "pyproject.toml"), cache_dir=None, no_logo=True)
    report = capsys.readouterr().out
    assert kept, f"an import breaks the layering in pyproject.toml [tool.importlinter]:\n{report}"


def _cycles(graph) -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return groups


def test_no_import_cycles_between_modules(graph) -> None:
    problems = []
    for group in _cycles(graph):
        a, b = group[0], group[1]
        there = graph.find_shortest_chain(importer=a, imported=b) or ()
        back = graph.find_shortest_chain(importer=b, imported=a) or ()
        problems.append(f"{' <-> '.join(group)}: {' -> '.join(there)} and {' -> '.join(back)}")
    assert not problems, "import cycles (function-level imports included):\n" + "\n".join(problems)


def test_cycle_finder_finds_a_planted_cycle() -> None:
    planted = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"):
        planted.add_module(name)
    planted.add_import(importer="pkg.a", imported="pkg.b")
    planted.add_import(importer="pkg.b", imported="pkg.c")
    planted.add_import(importer="pkg.c", imported="pkg.a")
    planted.add_import(importer="pkg.c", imported="pkg.d")
    assert _cycles(planted) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_every_services_package_has_a_layer() -> None:
    named = {part.strip().strip("()") for layer in _contract("layers")["layers"] for part in layer.replace("|", ":").split(":")}
    services = next(p for p in PACKAGES if p.rsplit(".", 1)[-1] == "services")
    folder = ROOT / "services"
    inside = {f"{services}.{p.name}" for p in folder.iterdir() if (p / "__init__.py").is_file()}
    inside |= {f"{services}.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__"}
    assert inside - named == set(), "place every services subpackage in the layers contract of pyproject.toml"
    assert set(PACKAGES) - {services} <= named


def test_kappa_is_computed_only_in_models_quality() -> None:
    import ast

    kappa_imports = {"cohen_kappa_score", "fleiss_kappa", "inter_rater", "aggregate_raters"}
    home = ROOT / "models" / "quality"
    found = []
    for folder in ("services", "models", "connectors", "taxonomies"):
        for path in (ROOT / folder).rglob("*.py"):
            if home in path.parents:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in {"sklearn", "statsmodels"}:
                    names = {a.name for a in node.names} | {node.module.rsplit(".", 1)[-1]}
                    if names & kappa_imports:
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, f"Cohen's/Fleiss' kappa belongs in models/quality/agreement.py; computed here too: {found}"
