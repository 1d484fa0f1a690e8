"""The package's shape: no import circle, no private name used across modules, no module
outside the compiled layer over MAX_LINES lines (read from the source, not imported)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the installed package names of the source folders (kernels/ is fastosmosis.kernels)
FOLDERS = {"fastosmosis": ROOT / "fastosmosis", "fastosmosis.kernels": ROOT / "kernels"}
MAX_LINES = 400


def modules():
    """{module name: path} for every module of the package."""
    out = {}
    for package, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([package, *parts])] = path
    return out


MODULES = modules()


def _is_package(name):
    return MODULES[name].name == "__init__.py"


def _resolve(module, node):
    """The absolute module named by an ImportFrom node inside ``module``."""
    if node.level == 0:
        return node.module
    base = module.split(".")
    if not _is_package(module):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module):
    """[(imported module, name or None, line)] of ``module``, at any depth (an import
    inside a function is a dependency too)."""
    tree = ast.parse(MODULES[module].read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in MODULES:  # "from . import kernels": the module itself
                    out.append((sub, None, node.lineno))
                else:
                    out.append((target, a.name, node.lineno))
    return [(m, n, line) for m, n, line in out if m in MODULES]


def graph():
    return {m: sorted({t for t, _, _ in imports(m) if t != m}) for m in MODULES}


def test_the_tree_is_read():
    assert {"fastosmosis", "fastosmosis.api", "fastosmosis.kernels",
            "fastosmosis.kernels.huber"} <= set(MODULES)
    assert ("fastosmosis.kernels", None) in {(m, n) for m, n, _ in
                                              imports("fastosmosis.api")}


def test_no_import_circle():
    g = graph()
    # a package's __init__ that re-exports its modules is not a circle with them; every
    # other edge counts
    state, stack, circles = {}, [], []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in g[m]:
            if t in m.split(".")[:1] or (_is_package(t) and m.startswith(t + ".")):
                continue  # a module importing its own package (its __init__)
            if state.get(t) == "open":
                circles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(g):
        if m not in state:
            visit(m)
    assert circles == []


def test_no_private_name_imported_across_modules():
    found = []
    for m in MODULES:
        for target, name, line in imports(m):
            if name and name.startswith("_") and not name.startswith("__") and target != m:
                found.append(f"{MODULES[m].relative_to(ROOT)}:{line} imports {target}.{name}")
    assert found == []


def test_no_private_attribute_of_another_module():
    """``module._name`` on an imported module of the package (``import x.y as z``,
    ``from . import y``), outside the compiled layer's own Numba internals."""
    found = []
    for m, path in MODULES.items():
        tree = ast.parse(path.read_text())
        aliases = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in MODULES:
                        aliases[a.asname or a.name] = a.name
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(m, node)
                for a in node.names:
                    if f"{target}.{a.name}" in MODULES:
                        aliases[a.asname or a.name] = f"{target}.{a.name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in aliases and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} uses "
                             f"{aliases[node.value.id]}.{node.attr}")
    assert found == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES
                                          if not m.startswith("fastosmosis.kernels")))
def test_no_module_outside_the_kernels_is_too_long(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(ROOT)}: {lines} lines"
