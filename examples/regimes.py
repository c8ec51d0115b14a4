# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""The training regimes compared by the program: names and parsing.

The configs and ``train.py`` both read :data:`REGIMES` from here; it
needs no model, data or Flax.

* ``conventional``: every layer at the base learning rate schedule.
* ``warmup``: a global linear warm-up from ~0 to eta0 over the same k steps
  LeRaC uses (the control reviewers asked for).
* ``lerac``: the LeRaC curriculum (``lerac_jax.lerac``); ``lerac/linear``
  etc. overrides ``config.lerac.schedule``; ``lerac/snr`` sets the initial
  ratios from the model's SNR per depth at initialisation
  (``lerac_jax.measure_snr`` and ``snr_ratios``).
* ``lerac_reverse``: the same curriculum with the depth order reversed (deep
  layers fast), a control.
* ``cbs``: Curriculum by Smoothing (:mod:`examples.cbs`).
* ``cbs+lerac``: both.

Fine-tuning regimes (:data:`FINETUNE_REGIMES`, not in the default list that
``compare`` runs), from the library's layer-wise engine:

* ``layer_decay``: layer-wise learning-rate decay for the whole run, depth
  ``d`` of ``D`` at ``config.layer_decay.decay ** (D - 1 - d)`` (the head at
  1), by ``lerac_jax.scale_by_layer_decay``.
* ``unfreeze``: gradual unfreezing, the deepest depth first, one more depth
  every ``config.unfreeze.steps_per_depth`` steps, by
  ``lerac_jax.scale_by_unfreezing``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from lerac_jax.schedules import SCHEDULES

REGIMES = ('conventional', 'warmup', 'lerac', 'lerac_reverse', 'cbs',
           'cbs+lerac')
# Fine-tuning regimes; they need the library's layer-wise engine.
FINETUNE_REGIMES = ('layer_decay', 'unfreeze')
# The suffix of LeRaC with SNR-calibrated initial ratios ('lerac/snr').
SNR_SUFFIX = 'snr'
# The parts a regime name is made of ('cbs+lerac' is 'cbs' and 'lerac').
_PARTS = frozenset(part for name in REGIMES + FINETUNE_REGIMES
                   for part in name.split('+'))


@dataclasses.dataclass(frozen=True)
class Regime:
  """A parsed regime name: which curricula are on."""
  name: str
  lerac: bool = False
  reverse: bool = False
  warmup: bool = False
  cbs: bool = False
  schedule: str | None = None  # overrides config.lerac.schedule
  snr: bool = False  # initial ratios calibrated from the SNR per depth
  layer_decay: bool = False  # layer-wise learning-rate decay
  unfreeze: bool = False  # gradual unfreezing, deepest depth first

  @classmethod
  def parse(cls, name: str) -> Regime:
    """Parses e.g. ``'lerac'``, ``'lerac/linear'``, ``'cbs+lerac'``.

    Args:
      name: a name from :data:`REGIMES`, or parts of them joined by ``+``,
        optionally followed by ``/<LeRaC schedule>`` or ``/snr``.

    Returns:
      The parsed regime.

    Raises:
      ValueError: for an unknown part or schedule, a suffix on a regime
        without LeRaC, or ``/snr`` on the reversed control.

    Example:
      >>> Regime.parse('cbs+lerac/log')
      Regime(name='cbs+lerac/log', lerac=True, reverse=False, warmup=False, cbs=True, schedule='log', snr=False, layer_decay=False, unfreeze=False)
      >>> Regime.parse('lerac/snr').snr
      True
      >>> Regime.parse('unfreeze').unfreeze
      True
    """
    base, _, schedule = name.partition('/')
    parts = set(base.split('+'))
    if not parts <= _PARTS or ('conventional' in parts and len(parts) > 1):
      raise ValueError(f'unknown regime {name!r}; use one of '
                       f'{REGIMES + FINETUNE_REGIMES}, optionally '
                       "'/<lerac schedule>' after a lerac regime")
    snr = schedule == SNR_SUFFIX
    if schedule and not snr and schedule not in SCHEDULES:
      raise ValueError(f'unknown LeRaC schedule {schedule!r} in {name!r}; '
                       f"choose from {SCHEDULES} or '{SNR_SUFFIX}'")
    lerac = bool(parts & {'lerac', 'lerac_reverse'})
    if schedule and not lerac:
      raise ValueError(f'{name!r}: a /{schedule} suffix needs a lerac regime')
    if snr and 'lerac_reverse' in parts:
      raise ValueError(f'{name!r}: the reversed control keeps the geometric '
                       'ratios; SNR-calibrated ratios follow the forward order')
    return cls(name, lerac=lerac, reverse='lerac_reverse' in parts,
               warmup='warmup' in parts, cbs='cbs' in parts,
               schedule=None if snr else schedule or None, snr=snr,
               layer_decay='layer_decay' in parts,
               unfreeze='unfreeze' in parts)


def parse_regimes(names: str | Iterable[str]) -> list[Regime]:
  """Parses a tuple of regime names; commas inside an item also split.

  ``--config.regimes=conventional,lerac`` reaches the config as the
  one-item tuple ``('conventional,lerac',)``, so both spellings are accepted.

  Example:
    >>> [r.name for r in parse_regimes(('conventional,lerac', 'cbs'))]
    ['conventional', 'lerac', 'cbs']
  """
  if isinstance(names, str):
    names = (names,)
  return [Regime.parse(part.strip()) for item in names
          for part in item.split(',') if part.strip()]
