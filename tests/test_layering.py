"""The layers point one way: each package imports only the packages below it, no import cycle, and no
model inference module imports training code.

Every import counts, the ones inside functions too (a lazy import is still a dependency). The layers,
lowest first, are in ``LAYERS``; a package may import its own modules and any package of a lower rank.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

# package -> rank; a module belongs to the longest package name that prefixes it
LAYERS = {
    "tutor": 0,  # the root modules: errors, safety, resources, _version
    "tutor.lesson_plans": 0,
    "tutor.assets": 9,  # the scripts that make the demo files
    "tutor.score": 1,
    "tutor.audio": 2,
    "tutor.models": 2,  # inference only
    "tutor.listen": 3,
    "tutor.practice": 4,
    "tutor.compose": 4,
    "tutor.lessons": 5,
    "tutor.models.training": 6,  # training and data builders: may import inference, never the other way
    "tutor.api": 6,
    "tutor.service": 7,
    "tutor.remote": 8,
    "tutor.batch": 9,
    "tutor.cli": 10,
    "tutor.ui": 10,
    "tutor.__main__": 11,
}
# the one import across a layer's boundary that is meant: `tutor app` starts the window
ALLOWED = {("tutor.cli.commands.app", "tutor.ui.app"), ("tutor.cli.commands.app", "tutor.ui.screenshot"),
           ("tutor.cli.commands.app", "tutor.ui")}
SOURCE_DIRS = {"tutor": REPO / "tutor", "tutor.ui": REPO / "ui", "tutor.models": REPO / "models",
               "tutor.lesson_plans": REPO / "lessons", "tutor.assets": REPO / "assets"}


def _modules() -> dict[str, Path]:
    modules = {}
    for package, folder in SOURCE_DIRS.items():
        for path in folder.rglob("*.py"):
            parts = [p for p in path.relative_to(folder).with_suffix("").parts if p != "__init__"]
            if package == "tutor" and parts and parts[0] in ("ui",):
                continue
            modules[".".join([package, *parts])] = path
    return modules


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import tutor.score.io` depends on tutor.score.io
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _package(module: str) -> str:
    return max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def test_imports_point_down_the_layers():
    wrong = []
    for module, targets in _graph().items():
        source = _package(module)
        for target in targets:
            if not target.startswith("tutor"):
                continue
            goal = _package(target)
            if goal == source or LAYERS[goal] < LAYERS[source] or (module, target) in ALLOWED:
                continue
            if goal == "tutor" and target == "tutor":  # `import tutor` (the version) is fine anywhere
                continue
            wrong.append(f"{module} ({source}, layer {LAYERS[source]}) imports {target} ({goal}, layer {LAYERS[goal]})")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_inference_never_imports_training():
    wrong = [f"{m} imports {t}" for m, targets in _graph().items() for t in targets
             if t.startswith("tutor.models.training") and not m.startswith("tutor.models.training")]
    assert not wrong, wrong


def test_no_import_cycle():
    graph = _graph()
    cycles, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target == "tutor" or target not in graph:
                continue
            if state.get(target) == 1:
                cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_every_package_says_what_it_owns_and_may_import():
    for package in LAYERS:
        if package in ("tutor", "tutor.__main__", "tutor.batch", "tutor.lesson_plans", "tutor.assets"):
            continue
        parts = package.split(".")
        root = SOURCE_DIRS.get(".".join(parts[:2]), REPO / "tutor")
        folder = root.joinpath(*parts[2:]) if ".".join(parts[:2]) in SOURCE_DIRS else REPO.joinpath(*parts)
        init = folder / "__init__.py"
        assert init.exists(), f"{package} has no __init__.py"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert "import" in doc.lower(), f"{package}'s docstring does not say what it may import"
