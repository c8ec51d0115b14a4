# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""lerac_jax: LeRaC, the Learning Rate Curriculum, for JAX and Optax."""

from lerac_jax import base_schedules
from lerac_jax import schedules
from lerac_jax.depth import as_depths
from lerac_jax.depth import depths_from_model
from lerac_jax.depth import depths_from_rules
from lerac_jax.depth import Depths
from lerac_jax.depth import describe
from lerac_jax.depth import Stacked
from lerac_jax.settings import Curriculum
from lerac_jax.transform import current_scales
from lerac_jax.transform import lerac
from lerac_jax.transform import LeracState
from lerac_jax.transform import scale_by_lerac

__version__ = "0.1.0"

__all__ = (
    "base_schedules",
    "Curriculum",
    "Depths",
    "LeracState",
    "Stacked",
    "as_depths",
    "current_scales",
    "depths_from_model",
    "depths_from_rules",
    "describe",
    "lerac",
    "scale_by_lerac",
    "schedules",
)
