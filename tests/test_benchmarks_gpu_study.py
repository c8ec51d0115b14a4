"""benchmarks/gpu_study.py end to end on CPU with ``--tiny``, and its budget.

Runs the study as a subprocess (as a user would), then checks the JSON: all
four arms finished in priority order, per-seed values finite and in range,
the best-validation selection consistent with the history, the LeRaC arms'
depth grouping and the official arm's head ratio, the summary's intervals
and tests, and that a second invocation resumes (keeps the finished arms,
whatever the data path and budget) and refuses other settings.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

import pytest

from benchmarks import gpu_study
from examples import input_pipeline

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
  assert "data_dir" not in data["meta"]["settings"]
  assert list(data["arms"]) == list(gpu_study.ARMS)  # priority order
  assert data["meta"]["cut"] == []
  assert "projection:" in proc.stdout
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
  assert data["arms"]["lerac_official"]["lerac"]["head_ratio"] == 1e-3

  summary = data["summary"]
  assert set(summary) == set(gpu_study.ARMS)
  for arm in ("lerac", "lerac_official"):
    for baseline in ("vs_conventional", "vs_warmup"):
      contrast = summary[arm][baseline]
      assert math.isfinite(contrast["mean_diff"]) and contrast["n"] == seeds
      assert {"ci_low", "ci_high", "t_p_holm", "tost_p_holm",
              "decision"} <= set(contrast)

  # Resumes: finished arms are kept, not trained again, though the data path
  # is spelled out and the budget differs (neither is a setting).
  proc = _run("--tiny", "--out", str(out), "--budget_s", "1", "--data_dir",
              input_pipeline.find_fashion_mnist())
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.count("done, kept") == len(gpu_study.ARMS)
  again = json.loads(out.read_text())
  assert again["arms"] == data["arms"]

  # Other settings refuse to mix into the same file.
  proc = _run("--tiny", "--k_fraction", "0.1", "--out", str(out))
  assert proc.returncode != 0 and "other settings" in proc.stderr


def _budget(elapsed, budget_s, epoch_s=10.0, setup_s=20.0):
  budget = gpu_study.Budget(budget_s, time.time() - elapsed)
  budget.epoch_s, budget.arm_setup_s = epoch_s, setup_s
  return budget


@pytest.mark.parametrize("budget_s, kept", [
    (0, 4),  # no budget: nothing is cut
    (1000, 4),  # 30 + 5 * 10 + 3 * (20 + 6 * 10) = 320 s: all fit
    (200, 2),  # 200 - 80 = 120 s left after the first arm: one more arm
    (79, 1),  # the running arm always finishes its plan (or stops cleanly)
])
def test_the_plan_is_cut_to_the_budget_in_priority_order(budget_s, kept,
                                                         capsys):
  args = argparse.Namespace(epochs=6)
  plan = list(gpu_study.ARMS)
  cut = gpu_study.cut_to_fit(plan, args, _budget(30.0, budget_s))
  assert plan == list(gpu_study.ARMS)[:kept]
  assert cut == list(gpu_study.ARMS)[kept:]
  assert "projection: 320 s" in capsys.readouterr().out


def test_budget_fits():
  assert _budget(30.0, 45).fits(10.0) and not _budget(30.0, 45).fits(20.0)
  assert _budget(1e6, 0).fits(1e6)  # 0: no budget


@pytest.mark.slow
def test_a_budget_stops_cleanly_keeping_the_finished_epoch(tmp_path):
  out = tmp_path / "gpu.json"
  proc = _run("--tiny", "--arms", "warmup,conventional", "--budget_s", "1",
              "--out", str(out))
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "projection:" in proc.stdout and "stopped before epoch 2" in (
      proc.stdout)
  data = json.loads(out.read_text())
  # Conventional runs first (priority), keeps its one epoch, and is unfinished.
  assert list(data["arms"]) == ["conventional"]
  record = data["arms"]["conventional"]
  assert len(record["history"]) == 1 and record["done"] is False
  assert data["meta"]["cut"] == ["warmup"]
  assert data["summary"] == {}  # only finished arms are compared
