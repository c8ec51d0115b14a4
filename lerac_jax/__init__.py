# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""lerac_jax: per-depth learning rates for JAX and Optax: LeRaC, layer-wise
decay, gradual unfreezing, on one engine."""

from lerac_jax import base_schedules
from lerac_jax import calibrate
from lerac_jax import schedules
from lerac_jax.depths import as_depths
from lerac_jax.depths import depths_from_fn
from lerac_jax.depths import depths_from_model
from lerac_jax.depths import depths_from_rules
from lerac_jax.depths import Depths
from lerac_jax.depths import describe
from lerac_jax.depths import Stacked
from lerac_jax.calibrate import measure_snr
from lerac_jax.calibrate import snr_ratios
from lerac_jax.engine import DepthScaleState
from lerac_jax.engine import scale_by_depth
from lerac_jax.families import LayerDecay
from lerac_jax.families import scale_by_layer_decay
from lerac_jax.families import scale_by_unfreezing
from lerac_jax.families import Unfreezing
from lerac_jax.monitoring import depth_stats
from lerac_jax.monitoring import DepthStats
from lerac_jax.monitoring import format_depth_stats
from lerac_jax.reading import all_current_scales
from lerac_jax.reading import current_scales
from lerac_jax.reading import refresh_scales
from lerac_jax.settings import Curriculum
from lerac_jax.transform import lerac
from lerac_jax.transform import LeracState
from lerac_jax.transform import scale_by_lerac

__version__ = "0.1.0"

__all__ = (
    "base_schedules",
    "calibrate",
    "Curriculum",
    "DepthScaleState",
    "DepthStats",
    "Depths",
    "LayerDecay",
    "LeracState",
    "Stacked",
    "Unfreezing",
    "all_current_scales",
    "as_depths",
    "current_scales",
    "depth_stats",
    "depths_from_fn",
    "depths_from_model",
    "depths_from_rules",
    "describe",
    "format_depth_stats",
    "lerac",
    "measure_snr",
    "refresh_scales",
    "scale_by_depth",
    "scale_by_layer_decay",
    "scale_by_lerac",
    "scale_by_unfreezing",
    "schedules",
    "snr_ratios",
)
