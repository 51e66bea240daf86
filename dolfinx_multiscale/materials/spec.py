"""The text form of a material: ``key=value,key=value`` (the command line's ``--phase``
body and the run file's phase strings) → a law of this package.

``model=elastic`` (default at small strain: ``E, nu`` or ``lmbda, mu``), ``model=j2``
(``E, nu, sy0`` and optionally ``H, Hk``), ``model=neo-hookean`` / ``model=svk`` (finite
strain, ``E, nu``), conduction ``k``. Every value but ``model`` is a number. Errors are
``ValueError`` naming the offending key and what is accepted.
"""

from __future__ import annotations

from .hyperelastic import NeoHookean, SaintVenantKirchhoff
from .linear import Conductivity, LinearElastic
from .plasticity import J2Plasticity

__all__ = ["material_from_parameters", "parse_parameters"]

_ELASTIC_KEYS = ({"E", "nu"}, {"lmbda", "mu"})
_FINITE_LAWS = {"neo-hookean": NeoHookean, "svk": SaintVenantKirchhoff}


def parse_parameters(text: str, what: str = "material") -> dict[str, float | str]:
    """Parse ``key=value,key=value`` (e.g. ``model=j2,E=1,nu=0.3,sy0=0.005``).

    Args:
        text: the parameter list.
        what: names the text in error messages (``"--phase '1:E=1'"``, ``"material 1"``).

    Returns:
        ``{key: value}``: floats, except ``model`` which stays a string.

    Raises:
        ValueError: an item is not ``key=value``, a key repeats, a value is not a number.
    """
    params: dict[str, float | str] = {}
    for item in text.split(","):
        key, eq, value = (s.strip() for s in item.partition("="))
        if not eq or not key or not value:
            raise ValueError(f"{what}: {item!r} is not key=value")
        if key in params:
            raise ValueError(f"{what}: {key!r} given twice")
        if key == "model":
            params[key] = value
            continue
        try:
            params[key] = float(value)
        except ValueError:
            raise ValueError(f"{what}: {key}={value!r} is not a number") from None
    return params


def material_from_parameters(params: dict, physics: str, plane_stress: bool = False, what: str = "phase"):
    """The law described by ``params`` (from :func:`parse_parameters`).

    Args:
        params: ``{key: value}``; ``model`` selects the law (see the module docstring).
        physics: ``"elasticity"`` (``model=elastic`` or ``j2``), ``"conduction"`` (``k``)
            or ``"finite"`` (``model=neo-hookean`` or ``svk``).
        plane_stress: 2-D plane stress (linear elastic phases only).
        what: names the material in error messages (``"phase 1"``).

    Raises:
        ValueError: unknown model, missing or extra keys for it, bad values (the law's own
            validation: ``E > 0``, ``-1 < nu < 0.5``, finite values, ...).
    """
    params = dict(params)
    conduction, finite = physics == "conduction", physics == "finite"
    model = params.pop("model", "conduction" if conduction else None if finite else "elastic")
    keys = set(params)
    if finite:
        if model not in _FINITE_LAWS:
            raise ValueError(f"{what}: finite strain needs model=neo-hookean or model=svk; "
                             f"got {'no model' if model is None else f'model={model}'}")
        if keys != {"E", "nu"}:
            raise ValueError(f"{what}: model={model} needs exactly E and nu; got {sorted(keys)}")
        law = _FINITE_LAWS[model]
    elif conduction:
        if model != "conduction" or keys != {"k"}:
            raise ValueError(f"{what}: conduction needs exactly k=VALUE; got {sorted(keys) or model}")
        law = Conductivity
    elif model == "elastic":
        plastic = keys & {"sy0", "H", "Hk"}
        if plastic:
            raise ValueError(f"{what}: {sorted(plastic)} are plastic parameters; add model=j2 or remove them")
        if keys not in _ELASTIC_KEYS:
            raise ValueError(f"{what}: an elastic phase needs E=..,nu=.. or lmbda=..,mu=..; got {sorted(keys)}")
        params["plane_stress"] = plane_stress
        law = LinearElastic
    elif model == "j2":
        if not {"E", "nu", "sy0"} <= keys <= {"E", "nu", "sy0", "H", "Hk"}:
            raise ValueError(f"{what}: model=j2 needs E, nu, sy0 and optionally H, Hk; got {sorted(keys)}")
        if plane_stress:
            raise ValueError("plane stress is not available for model=j2 (plane strain only)")
        law = J2Plasticity
    else:
        raise ValueError(f"{what}: unknown model={model!r}; accepted: elastic, j2 "
                         "(and neo-hookean, svk at finite strain)")
    try:
        return law(**params)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{what}: {exc}") from None
