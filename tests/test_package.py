"""Package layout: every module has a sorted ``__all__`` of documented public names; the
imports follow the layers of docs/architecture.md without cycles; no private reach-in."""

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import dolfinx_multiscale as dm

MODULES = ["dolfinx_multiscale"] + [m.name for m in pkgutil.walk_packages(dm.__path__, "dolfinx_multiscale.")]


@pytest.mark.parametrize("name", MODULES)
def test_module_all_sorted_and_documented(name):
    module = importlib.import_module(name)
    assert module.__doc__, f"{name} has no module docstring"
    names = module.__all__
    assert names == sorted(names), f"{name}.__all__ is not sorted"
    for attr in names:
        obj = getattr(module, attr)  # AttributeError: __all__ names a missing object
        if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj):
            assert obj.__doc__, f"{name}.{attr} has no docstring"
            assert not getattr(obj, "__module__", "").startswith("dolfinx.cpp"), f"{name}.{attr} is dolfinx.cpp"


def test_every_module_is_listed():
    expected = {"dolfinx_multiscale.geometry.meshing", "dolfinx_multiscale.geometry.microstructures",
                "dolfinx_multiscale.cell.rve", "dolfinx_multiscale.materials.protocol"}
    assert expected <= set(MODULES)


# -- structure: layers, cycles, private attributes, class size -------------------------
PACKAGE = Path(dm.__file__).parent
#: bottom to top (docs/architecture.md); a module may import only from its layer or below
LAYERS = [("errors", "files", "tensors", "kinematics", "linalg", "parallel", "progress", "quadrature_fields", "stability"), ("materials",), ("geometry",),
          ("cell",), ("macro",), ("studies",), ("viz",), ("runs",), ("cli", "__init__")]


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = ast.parse(path.read_text(), str(path))
    return out


def _package_imports(name: str, tree: ast.Module, modules) -> set[str]:
    """The package modules ``name`` imports, at module or function level."""
    is_package = name in modules and (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()
    base = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                prefix = base[: len(base) - node.level + 1] + (node.module.split(".") if node.module else [])
            else:
                prefix = node.module.split(".")
            target = ".".join(prefix)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in modules and m != name}


def _layer(name: str) -> int:
    parts = name.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return next(i for i, group in enumerate(LAYERS) if top in group)


def test_dolfinx_solver_imported_in_one_guarded_place():
    """Only the package ``__init__`` imports ``dolfinx_solver`` (in a try block), so the
    package imports where DOLFINx comes without that wheel (docker/Dockerfile)."""
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) else [])
            if "dolfinx_solver" in names:
                assert name == "dolfinx_multiscale", f"{name} imports dolfinx_solver"
    guarded = [n for n in ast.walk(_modules()["dolfinx_multiscale"]) if isinstance(n, ast.Try)]
    assert any("dolfinx_solver" in ast.dump(t) for t in guarded)


def test_imports_follow_the_layers_without_cycles():
    modules = _modules()
    graph = {name: _package_imports(name, tree, modules) for name, tree in modules.items()}
    for name, targets in graph.items():
        for target in targets:
            assert _layer(target) <= _layer(name), f"{name} imports {target} from a higher layer"
    # no cycle, function-level imports included (depth-first search)
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(stack[stack.index(nxt):] + [nxt])}")
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_no_private_attribute_of_another_object_is_read():
    """``obj._name`` only on ``self``, ``cls`` or ``super()`` (DOLFINx's own ``_cpp_object``
    handle excepted)."""
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and node.attr != "_cpp_object"):
                owner = (node.value.id if isinstance(node.value, ast.Name) else
                         "super" if isinstance(node.value, ast.Call) and ast.unparse(node.value) == "super()" else None)
                assert owner in ("self", "cls", "super"), f"{name}:{node.lineno} reads {ast.unparse(node)}"


def test_no_class_over_25_methods():
    for name, tree in _modules().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                methods = {f.name for f in node.body if isinstance(f, ast.FunctionDef) and not f.name.startswith("__")}
                assert len(methods) <= 25, f"{name}.{node.name} has {len(methods)} methods"


def _self_attributes(function: ast.FunctionDef) -> set[str]:
    out = set()
    for node in ast.walk(function):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        for target in targets:
            for e in ast.walk(target):
                if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and e.value.id == "self":
                    out.add(e.attr)
    return out


def test_attributes_are_created_in_init():
    """Every ``self.x = ...`` of a method targets an attribute that ``__init__`` (of the
    class or a base class of the package) creates, or a property."""
    classes = {node.name: node for tree in _modules().values() for node in ast.walk(tree)
               if isinstance(node, ast.ClassDef)}

    def declared(name: str) -> set[str]:
        node = classes.get(name)
        if node is None:
            return set()
        out = set()
        for item in node.body:
            if isinstance(item, ast.FunctionDef):
                out |= _self_attributes(item) if item.name == "__init__" else {item.name}  # methods, properties
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                out.add(item.target.id)
            elif isinstance(item, ast.Assign):
                out |= {t.id for t in item.targets if isinstance(t, ast.Name)}
        for base in node.bases:
            if isinstance(base, ast.Name):
                out |= declared(base.id)
        return out

    for name, node in classes.items():
        known = declared(name)
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name != "__init__":
                extra = _self_attributes(item) - known
                assert not extra, f"{name}.{item.name} creates {sorted(extra)} outside __init__"
