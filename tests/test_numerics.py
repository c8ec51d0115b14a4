"""Float32 updates match the recorded trajectories, across x86 CPUs.

XLA compiles the CPU kernels for the instruction set it finds (AVX2 or
AVX-512), and transcendental functions differ between them in the last bits.
Measured on one AVX-512 machine, with and without
``XLA_FLAGS=--xla_cpu_max_isa=AVX2``: five schedules gave identical bits and
the ``log`` schedule differed by at most 150 ulps (relative 1.6e-5), because
its multiplier ``log1p``/``exp`` chain amplifies the last bit. So the
reference is compared with a relative tolerance of 1e-4 (about 840 ulps),
six times the difference measured between the two instruction sets and far
below any change of a schedule (a 1% change of one multiplier fails).

Bit-identity is promised only within one machine: the same trajectory,
compiled twice in one process, is bit-identical.

Regenerate the reference with ``python tests/numerics_golden.py`` only for a
deliberate change.
"""

import numpy as np
import pytest

from tests import numerics_golden

RTOL = 1e-4
ATOL = 1e-12  # updates of the deepest depths are ~1e-9; this only guards 0


@pytest.fixture(scope="module")
def reference():
  with np.load(numerics_golden.REFERENCE) as data:
    return dict(data)


def check(name, inject, reference):
  got = numerics_golden.trajectory(name, inject)
  want = reference[numerics_golden.key(name, inject)]
  np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_default_settings_match_reference(reference):
  check("exponential-geometric", False, reference)


@pytest.mark.slow
@pytest.mark.parametrize("name, inject", [
    (name, inject) for name in numerics_golden.CASES for inject in (False, True)
    if (name, inject) != ("exponential-geometric", False)])
def test_every_schedule_matches_reference(name, inject, reference):
  check(name, inject, reference)


def test_bit_identical_within_one_machine():
  first = numerics_golden.trajectory("log-explicit")
  second = numerics_golden.trajectory("log-explicit")
  np.testing.assert_array_equal(first, second)


def test_tolerance_catches_a_one_percent_change(reference):
  want = reference[numerics_golden.key("exponential-geometric", False)]
  moved = want.copy()
  moved[10, 5] *= 1.01
  with pytest.raises(AssertionError):
    np.testing.assert_allclose(moved, want, rtol=RTOL, atol=ATOL)
