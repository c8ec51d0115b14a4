# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""One validation of the training config, before any data is read.

:func:`validate` checks every field of a config built from
``examples/configs/default.py``: its type, its range, and how the fields
combine (``k_epochs`` within ``num_epochs``, a setting that only another
schedule reads, regimes that contradict each other, the regimes and seeds a
comparison needs). Every problem is reported at once, each naming the
field, its valid range and an example value::

    config.batch_size=-4: must be an integer >= 1 (e.g.
    --config.batch_size=64)

``examples.main``, ``examples.compare`` and the benchmark scripts call it
before any work: a bad value never trains, hangs or is ignored.

Each program reads its own fields (:data:`PROGRAM_FIELDS`): ``examples.main``
trains ``regime`` with ``seed``; ``examples.compare`` every ``regimes`` with
every ``seeds``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import ml_collections

from examples import regimes as regimes_lib

# Which program reads which of the one-run / many-run fields.
PROGRAM_FIELDS = {'main': ('regime', 'seed'), 'compare': ('regimes', 'seeds')}
# The seed feeds numpy's generator and jax.random.key, which keeps 32 bits
# (without x64, key(2**32 + 5) is key(5)).
MAX_SEED = 2**32 - 1
# float32's smallest normal: a lower min_scale is flushed to 0 (frozen layer).
TINY = 1.1754943508222875e-38
OPTIMIZERS = ('sgd', 'adam', 'adamw', 'adamax')
LR_SCHEDULES = ('constant', 'cosine', 'step')


MAX_STEPS = 2**31 - 1  # the optimizer's step count is an int32
MAX_EPOCHS = 100_000


class ConfigError(ValueError):
  """A config that cannot run as asked; ``problems`` lists every reason."""

  def __init__(self, problems: Sequence[str]):
    self.problems = list(problems)
    super().__init__('invalid config:\n  ' + '\n  '.join(self.problems))


class ConfigWarning(UserWarning):
  """A config that runs, but probably not as meant (e.g. a cut curriculum)."""


@dataclasses.dataclass(frozen=True)
class Rule:
  """The type and range of one field.

  Attributes:
    kind: ``int``, ``float`` (an int is accepted), ``bool``, ``str``,
      ``'choice'`` or ``'numbers'`` (a tuple of finite numbers).
    valid: True for an allowed value of the right kind.
    text: the valid range, as the error message says it.
    example: a valid value, shown as ``--config.<field>=<example>``.
  """
  kind: Any
  valid: Callable[[Any], bool]
  text: str
  example: Any


def _any(_):
  return True


def _choice(options: Sequence[str], example: str | None = None) -> Rule:
  return Rule('choice', lambda v: v in options,
              'one of ' + ', '.join(options), example or options[0])


def _rules() -> dict[str, Rule]:
  """Field -> rule, for every field of the default config."""
  from examples import models  # pylint: disable=g-import-not-at-top
  from lerac_jax.schedules import SCHEDULES  # pylint: disable=g-import-not-at-top
  fraction = Rule(float, lambda v: 0 < v < 1, 'a number in (0, 1)', 0.1)
  count = lambda ex: Rule(int, lambda v: v >= 0, 'an integer >= 0 (0: all)',
                          ex)
  positive_int = lambda ex: Rule(int, lambda v: v >= 1, 'an integer >= 1', ex)
  positive = lambda ex: Rule(float, lambda v: v > 0, 'a finite number > 0',
                             ex)
  unit = lambda ex: Rule(float, lambda v: 0 < v <= 1, 'a number in (0, 1]',
                         ex)
  flag = Rule(bool, _any, 'True or False', True)
  seed = Rule(int, lambda v: 0 <= v <= MAX_SEED,
              f'an integer in [0, {MAX_SEED}]', 0)
  return {
      'dataset': Rule(str, bool, 'a dataset name', 'digits'),
      'data_dir': Rule(str, _any, "a folder, or '' for the default search",
                       '/data/fashion-mnist'),
      'download': flag,
      'tfds_reader': _choice(('auto', 'data_source', 'load')),
      'validation_fraction': fraction,
      'max_train_examples': count(5000),
      'max_validation_examples': count(2000),
      'max_test_examples': count(1000),
      'image_size': Rule(int, lambda v: v >= 0,
                         'an integer >= 0 (0: keep the size)', 32),
      'seq_len': positive_int(64),
      'model': _choice(tuple(models.MODELS)),
      'batch_size': positive_int(64),
      'eval_batch_size': positive_int(512),
      # An upper bound keeps every run's step count inside the optimizer's
      # int32 step counter (optax's schedules overflow past 2**31 - 1).
      'num_epochs': Rule(int, lambda v: 1 <= v <= MAX_EPOCHS,
                         f'an integer in [1, {MAX_EPOCHS}]', 8),
      'num_train_steps': Rule(int, lambda v: v == -1 or 1 <= v <= MAX_STEPS,
                              f'-1 (no limit) or an integer in [1, '
                              f'{MAX_STEPS}]', 100),
      'optimizer': _choice(OPTIMIZERS),
      'learning_rate': positive(0.05),
      'momentum': Rule(float, lambda v: 0 <= v < 1, 'a number in [0, 1)',
                       0.9),
      'nesterov': flag,
      'weight_decay': Rule(float, lambda v: v >= 0, 'a finite number >= 0',
                           5e-4),
      'lr_schedule': _choice(LR_SCHEDULES, 'cosine'),
      'step_decay_epochs': Rule(
          'numbers', lambda v: all(e > 0 for e in v) and all(
              a < b for a, b in zip(v, v[1:])),
          'increasing epochs > 0', '35,65,95'),
      'step_decay_factor': unit(0.1),
      'warmup_init': unit(1e-3),
      'regime': Rule(str, bool, 'a regime name (see examples/regimes.py)',
                     'lerac'),
      'k_epochs': positive(2.0),
      'lerac.schedule': _choice(SCHEDULES),
      'lerac.min_scale': Rule(float, lambda v: TINY <= v <= 1,
                              f'a number in [{TINY:.4g}, 1]', 1e-6),
      'lerac.snr_probe_size': positive_int(256),
      'lerac.group': _choice(('layer', 'block')),
      'lerac.block_level': positive_int(1),
      'lerac.initial_ratios': _choice(('geometric', 'decay')),
      'lerac.decay_factor': unit(0.1),
      'lerac.head_ratio': Rule(float, lambda v: 0 <= v <= 1,
                               "a number in [0, 1] (0: the head keeps its "
                               "depth's ratio)", 1e-3),
      'lerac.staircase_factor': Rule(float, lambda v: v > 1,
                                     'a finite number > 1', 10.0),
      'lerac.steps_per_event': Rule(
          int, lambda v: v >= 0, 'an integer >= 0 (0: spread the events '
          'over k)', 10),
      'cbs.sigma': positive(1.0),
      'cbs.decay': unit(0.9),
      'cbs.every_epochs': positive_int(2),
      'regimes': Rule('strings', bool, 'a non-empty list of regime names',
                      'conventional,lerac'),
      'seeds': Rule('ints', lambda v: bool(v) and all(
          0 <= s <= MAX_SEED for s in v),
                    f'a non-empty list of integers in [0, {MAX_SEED}]',
                    '0,1,2'),
      'seed': seed,
      'log_every': positive_int(1),
      'eval_test_every_epoch': flag,
      'tensorboard': flag,
      'log_depth_stats': flag,
  }


def _of_kind(value: Any, kind: Any) -> bool:
  """Whether ``value`` has the rule's type (bool is not a number here)."""
  number = lambda v: (isinstance(v, (int, float)) and not isinstance(v, bool)
                      and math.isfinite(v))
  if kind is bool:
    return isinstance(value, bool)
  if kind is int:
    return isinstance(value, int) and not isinstance(value, bool)
  if kind is float:
    return number(value)
  if kind in (str, 'choice'):
    return isinstance(value, str)
  if kind == 'numbers':
    return isinstance(value, (tuple, list)) and all(map(number, value))
  if kind == 'strings':
    return isinstance(value, (tuple, list)) and all(
        isinstance(v, str) for v in value)
  if kind == 'ints':
    return isinstance(value, (tuple, list)) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value)
  raise AssertionError(kind)


def _get(config: ml_collections.ConfigDict, field: str) -> Any:
  for part in field.split('.'):
    config = config[part]
  return config


def field_problem(field: str, value: Any, what: str, rule: Rule) -> str:
  """One line: the field and value, what is wrong, the range, an example."""
  return (f'config.{field}={value!r}: {what}; valid: {rule.text} (e.g. '
          f'--config.{field}={rule.example})')


def used_fields(program: str) -> set[str]:
  """The fields of the config that ``program`` reads (all but the other's)."""
  if program not in PROGRAM_FIELDS:
    raise ValueError(f'program must be one of {tuple(PROGRAM_FIELDS)}; got '
                     f'{program!r}')
  others = {f for p, fields in PROGRAM_FIELDS.items() if p != program
            for f in fields}
  return set(_rules()) - others


def _regime_names(value: str | Iterable[str]) -> list[str]:
  items = (value,) if isinstance(value, str) else value
  return [part.strip() for item in items for part in item.split(',')
          if part.strip()]


def _check_regimes(config, program, rules) -> tuple[list[str], list[Any]]:
  """Problems with the regimes the program runs, and the parsed regimes."""
  field = 'regime' if program == 'main' else 'regimes'
  value = config[field]
  names = _regime_names(value)
  problems, parsed = [], []
  for name in names:
    parts = name.partition('/')[0].split('+')
    if {'lerac', 'lerac_reverse'} <= set(parts):
      problems.append(field_problem(
          field, value, f'{name!r} asks for the curriculum both forward and '
          'reversed (only one can run); pick lerac or lerac_reverse',
          rules[field]))
      continue
    try:
      parsed.append(regimes_lib.Regime.parse(name))
    except ValueError as e:
      problems.append(field_problem(field, value, str(e), rules[field]))
  if program == 'main' and len(names) != 1 and not problems:
    problems.append(field_problem(
        field, value, 'examples.main trains one regime (examples.compare '
        'runs several)', rules[field]))
  if program == 'compare':
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
      problems.append(field_problem(
          field, value, f'{repeated} listed twice', rules[field]))
    if names and 'conventional' not in names:
      problems.append(field_problem(
          field, value, 'compare reports every regime against '
          "'conventional', which is missing", Rule(
              'strings', bool, "a list that holds 'conventional'",
              'conventional,' + ','.join(names))))
  return problems, parsed


def _check_combinations(config, regimes) -> list[str]:
  """Problems of fields that are valid alone but not together."""
  from examples.configs import default  # pylint: disable=g-import-not-at-top
  defaults = default.get_config()
  problems = []
  if config.k_epochs > config.num_epochs:
    problems.append(field_problem(
        'k_epochs', config.k_epochs, f'longer than the run (num_epochs='
        f'{config.num_epochs}): the curriculum would never finish and the '
        "base schedule's decay never start", Rule(
            float, _any, f'a number in (0, num_epochs={config.num_epochs}]',
            min(2.0, config.num_epochs))))
  if config.nesterov and (config.optimizer != 'sgd' or not config.momentum):
    problems.append(field_problem(
        'nesterov', True, f'only sgd with momentum > 0 has Nesterov momentum '
        f'(optimizer={config.optimizer!r}, momentum={config.momentum})',
        Rule(bool, _any, 'False unless optimizer=sgd and momentum > 0',
             False)))
  if config.lr_schedule != 'step':
    for field in ('step_decay_epochs', 'step_decay_factor'):
      if tuple(_as_tuple(config[field])) != tuple(_as_tuple(defaults[field])):
        problems.append(field_problem(
            field, config[field], f"only lr_schedule='step' reads it "
            f'(lr_schedule={config.lr_schedule!r}): it would be ignored',
            Rule(_any, _any, "leave it out, or set --config.lr_schedule=step",
                 defaults[field])))
  lerac_runs = [r for r in regimes if r.lerac]
  named_ratios = [r for r in lerac_runs if not r.snr]
  schedules = {r.schedule or config.lerac.schedule for r in lerac_runs}
  if named_ratios and (config.lerac.initial_ratios != 'decay'
                       and config.lerac.decay_factor
                       != defaults.lerac.decay_factor):
    problems.append(field_problem(
        'lerac.decay_factor', config.lerac.decay_factor,
        "only initial_ratios='decay' reads it (initial_ratios="
        f'{config.lerac.initial_ratios!r}): it would be ignored',
        Rule(float, _any, 'leave it out, or set --config.lerac.'
             'initial_ratios=decay', defaults.lerac.decay_factor)))
  if lerac_runs and 'staircase' not in schedules:
    for field in ('staircase_factor', 'steps_per_event'):
      if config.lerac[field] != defaults.lerac[field]:
        problems.append(field_problem(
            f'lerac.{field}', config.lerac[field],
            "only the staircase schedule reads it (the regimes run "
            f'{sorted(schedules)}): it would be ignored',
            Rule(_any, _any, 'leave it out, or run a staircase regime such '
                 'as lerac/staircase', defaults.lerac[field])))
  return problems


def _as_tuple(value):
  return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def validate(config: ml_collections.ConfigDict,
             program: str = 'main') -> None:
  """Checks a config before any work; raises listing every problem.

  The checks: each field's type and range; ``k_epochs <= num_epochs``;
  ``nesterov`` only with sgd and momentum; a step-decay, ``decay_factor``,
  ``staircase_factor`` or ``steps_per_event`` other than the default only
  where a schedule of this run reads it; regime names that parse, do not ask
  for the forward and the reversed curriculum at once, and (compare) appear
  once and include ``conventional``; seeds that are distinct and in
  ``[0, 2**32 - 1]``. A step-decay epoch beyond the run is warned about
  (:class:`ConfigWarning`), not refused.

  Args:
    config: a config built from ``examples/configs/default.py``.
    program: ``'main'`` (one ``regime`` and ``seed``) or ``'compare'``
      (``regimes`` x ``seeds``); the other program's fields are not read.

  Raises:
    ConfigError: listing every problem, each with the field, its valid
      range and an example value.

  Example:
    >>> from examples.configs import default
    >>> config = default.get_config()
    >>> validate(config)
    >>> config.batch_size = -4
    >>> validate(config)
    Traceback (most recent call last):
      ...
    examples.config_check.ConfigError: invalid config:
      config.batch_size=-4: out of range; valid: an integer >= 1 (e.g. --config.batch_size=64)
  """
  rules = _rules()
  fields = used_fields(program)
  problems = []
  for field in sorted(fields):
    rule = rules[field]
    try:
      value = _get(config, field)
    except (KeyError, AttributeError):
      continue  # a config without the field: the code's default applies
    if not _of_kind(value, rule.kind):
      what = {int: 'not an integer', float: 'not a finite number',
              bool: 'not True or False'}.get(rule.kind, 'of the wrong type')
      problems.append(field_problem(field, value, what, rule))
    elif isinstance(value, (tuple, list)) and not value:
      problems.append(field_problem(field, value, 'empty', rule))
    elif not rule.valid(tuple(value) if isinstance(value, list) else value):
      problems.append(field_problem(field, value, 'out of range', rule))
  bad_fields = {p.split('=')[0] for p in problems}
  regimes = []
  if f'config.{"regime" if program == "main" else "regimes"}' not in (
      bad_fields):
    regime_problems, regimes = _check_regimes(config, program, rules)
    problems += regime_problems
  if program == 'compare' and 'config.seeds' not in bad_fields:
    repeated = sorted({s for s in config.seeds
                       if list(config.seeds).count(s) > 1})
    if repeated:
      problems.append(field_problem('seeds', config.seeds,
                                    f'{repeated} listed twice',
                                    rules['seeds']))
  if not problems:  # combinations only of fields that are each valid
    problems += _check_combinations(config, regimes)
  if problems:
    raise ConfigError(problems)
  if config.lr_schedule == 'step':
    late = [e for e in config.step_decay_epochs if e >= config.num_epochs]
    if late:
      warnings.warn(
          f'config.step_decay_epochs={tuple(config.step_decay_epochs)}: '
          f'{late} at or after the end of the run (num_epochs='
          f'{config.num_epochs}) never decay the rate', ConfigWarning,
          stacklevel=2)


def check_run_length(config: ml_collections.ConfigDict,
                     steps_per_epoch: int) -> None:
  """Warns when ``num_train_steps`` stops the run before k ends.

  Also refuses a run longer than the optimizer's int32 step count
  (:data:`MAX_STEPS`), where the schedules would overflow.

  Only known once the data is loaded (``steps_per_epoch``). A smoke run
  may want that; a real one would train with a curriculum that never
  finishes, so it is said (:class:`ConfigWarning`).

  Args:
    config: a validated config.
    steps_per_epoch: optimizer steps per epoch of the loaded data.

  Raises:
    ConfigError: the run has more than :data:`MAX_STEPS` steps.

  Example:
    >>> import warnings
    >>> from examples.configs import default
    >>> config = default.get_config()
    >>> config.num_train_steps = 3
    >>> with warnings.catch_warnings(record=True) as caught:
    ...   warnings.simplefilter('always')
    ...   check_run_length(config, steps_per_epoch=20)
    >>> print(caught[0].message)
    config.num_train_steps=3 stops the run before the curriculum ends (k_epochs=2.0 is 40 steps): the rates never reach eta0
  """
  from examples import train  # pylint: disable=g-import-not-at-top
  total = train.total_steps(config, steps_per_epoch)
  if total > MAX_STEPS:
    raise ConfigError([
        f'config.num_epochs={config.num_epochs}: {total} steps at '
        f'{steps_per_epoch} steps per epoch, more than the optimizer\'s '
        f'int32 step count holds; valid: at most {MAX_STEPS} steps in all '
        f'(e.g. --config.num_epochs={max(1, MAX_STEPS // steps_per_epoch)})'])
  k_steps = train.curriculum_steps(config, steps_per_epoch)
  if 0 < config.num_train_steps < k_steps:
    warnings.warn(
        f'config.num_train_steps={config.num_train_steps} stops the run '
        f'before the curriculum ends (k_epochs={config.k_epochs} is '
        f'{k_steps} steps): the rates never reach eta0', ConfigWarning,
        stacklevel=2)
