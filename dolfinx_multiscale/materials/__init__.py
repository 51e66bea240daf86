"""Constitutive laws, all with the one material protocol of :mod:`.protocol`.

* :mod:`.linear` — :class:`LinearElastic`, :class:`Conductivity`;
* :mod:`.plasticity` — :class:`J2Plasticity` (small-strain von Mises, radial return);
* :mod:`.viscoelasticity` — :class:`GeneralizedMaxwell` (exact exponential integration);
* :mod:`.hyperelastic` — :class:`NeoHookean`, :class:`SaintVenantKirchhoff` (finite
  strain, first Piola–Kirchhoff stress).
"""

from .hyperelastic import NeoHookean, SaintVenantKirchhoff
from .linear import Conductivity, LinearElastic
from .plasticity import J2Plasticity
from .protocol import Material
from .viscoelasticity import GeneralizedMaxwell

__all__ = ["Conductivity", "GeneralizedMaxwell", "J2Plasticity", "LinearElastic", "Material", "NeoHookean",
           "SaintVenantKirchhoff"]
