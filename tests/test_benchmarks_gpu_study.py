"""benchmarks/gpu_study.py end to end on CPU with ``--tiny``.

Runs the study as a subprocess (as a user would), then checks the JSON: all
four arms finished, per-seed values finite and in range, the best-validation
selection consistent with the history, the LeRaC arms' depth grouping, and
that a second invocation resumes (keeps the finished arms) and refuses other
settings.
"""

import json
import math
import os
import subprocess
import sys

import pytest

from benchmarks import gpu_study

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "gpu_study.py")


def _run(*args):
  return subprocess.run([sys.executable, SCRIPT, *args], cwd=ROOT,
                        capture_output=True, text=True, check=False)


@pytest.mark.slow
def test_tiny_study_runs_resumes_and_refuses_other_settings(tmp_path):
  out = tmp_path / "gpu.json"
  proc = _run("--tiny", "--out", str(out))
  assert proc.returncode == 0, proc.stderr[-3000:]
  data = json.loads(out.read_text())

  assert data["meta"]["settings"]["tiny"] is True
  assert list(data["arms"]) == list(gpu_study.ARMS)
  seeds = data["meta"]["settings"]["seeds"]
  epochs = data["meta"]["settings"]["epochs"]
  for arm, record in data["arms"].items():
    assert record["done"], arm
    assert len(record["history"]) == epochs
    for h in record["history"]:
      for key in ("train_loss", "val", "test"):
        assert len(h[key]) == seeds
        assert all(math.isfinite(v) for v in h[key]), (arm, key, h[key])
      assert all(0.0 <= v <= 1.0 for v in h["val"] + h["test"])
    # k is 4% of T (at least one step).
    assert record["curriculum_steps"] == max(
        1, round(0.04 * record["total_steps"]))
    best = record["best"]
    for s in range(seeds):
      chosen = record["history"][best["epoch"][s] - 1]
      assert best["val"][s] == max(h["val"][s] for h in record["history"])
      assert best["test"][s] == chosen["test"][s]
  # One depth per layer (Eq. 8 arm) vs one per block (official-code arm).
  assert (data["arms"]["lerac"]["num_depths"]
          > data["arms"]["lerac_official"]["num_depths"])
  # The curricula start with the deep layers held back; the others do not.
  first = {a: r["history"][0]["smallest_multiplier_first_step"]
           for a, r in data["arms"].items()}
  assert first["conventional"] == first["warmup"] == 1.0
  assert first["lerac"] < 1e-5 and first["lerac_official"] < 1e-3

  summary = data["summary"]
  assert set(summary) == set(gpu_study.ARMS)
  for arm in ("lerac", "lerac_official"):
    for baseline in ("vs_conventional", "vs_warmup"):
      assert math.isfinite(summary[arm][baseline]["mean_diff"])

  # Resumes: finished arms are kept, not trained again.
  proc = _run("--tiny", "--out", str(out))
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.count("done, kept") == len(gpu_study.ARMS)
  again = json.loads(out.read_text())
  assert again["arms"] == data["arms"]

  # Other settings refuse to mix into the same file.
  proc = _run("--tiny", "--k_fraction", "0.1", "--out", str(out))
  assert proc.returncode != 0 and "other settings" in proc.stderr
