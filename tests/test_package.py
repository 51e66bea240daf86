"""Package layout: every module has a sorted ``__all__`` of documented public names."""

import importlib
import inspect
import pkgutil

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
