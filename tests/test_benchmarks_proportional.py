# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""The preregistered proportional study: smoke run, resume, report, README."""

import json
import os
import re

import numpy as np
import pytest

from benchmarks import proportional_study as study
from benchmarks import study_io


def test_quick_study_resumes_and_reports(tmp_path, capsys):
  out = str(tmp_path / "p.json")
  study.main(["--quick", "--out", out, "--max_runs", "3"])
  data = study_io.load_results(out)
  assert sorted(data["runs"]) == ["conventional|seed=0", "lerac_eq8|seed=0",
                                  "warmup|seed=0"]
  first = data["runs"]["conventional|seed=0"]
  # Epoch 0 (the initialisation) plus every epoch; test once, at best val.
  assert [h["epoch"] for h in first["history"]] == [0, 1, 2, 3]
  best = max(h["val_accuracy"] for h in first["history"][1:])
  assert first["history"][first["best_epoch"]]["val_accuracy"] == best
  correct = study_io.unpack_bools(first["test_correct"], first["num_test"])
  assert correct.mean() == pytest.approx(first["test_accuracy"])
  capsys.readouterr()
  data = study.main(["--quick", "--out", out])  # resumes: 5 more runs
  assert "3 done, 5 to go" in capsys.readouterr().out
  assert len(data["runs"]) == 8
  text = open(str(tmp_path / "p.md")).read()
  assert "Primary contrasts" in text and "lerac_eq8 - warmup" in text
  assert os.path.exists(str(tmp_path / "p_learning_curves.png"))
  # Same seed, same initial weights: every arm starts from one accuracy.
  starts = {r["history"][0]["val_accuracy"] for r in data["runs"].values()
            if r["seed"] == 1}
  assert len(starts) == 1


def test_resume_with_other_settings_is_refused(tmp_path):
  out = tmp_path / "p.json"
  out.write_text(json.dumps({"meta": {"settings": {"seeds": 3}},
                             "runs": {"conventional|seed=0": {}}}))
  with pytest.raises(SystemExit, match="other settings"):
    study.main(["--quick", "--out", str(out)])


def _record(acc, correct, best_epoch=3):
  history = [{"epoch": e, "val_accuracy": 0.9} for e in range(4)]
  return {"test_accuracy": acc, "num_test": len(correct),
          "test_correct": study_io.pack_bools(correct), "history": history,
          "best_epoch": best_epoch}


def test_decisions_follow_the_preregistered_rule():
  rng = np.random.default_rng(0)
  runs = {}
  for s in range(8):
    base = 0.90 + 0.002 * rng.standard_normal()
    right = rng.random(1000) < base
    runs["conventional", s] = _record(base, right)
    runs["better", s] = _record(base + 0.02 + 0.001 * rng.standard_normal(),
                                right)
    runs["same", s] = _record(base + 0.0002 * rng.standard_normal(), right)
  results = study.family(runs, [("better", "conventional"),
                                ("same", "conventional")], list(range(8)))
  better, same = results
  assert better["decision"] == "better"
  assert better["ci_low"] > 0 and better["t_p_holm"] >= better["t_p"]
  assert same["decision"].startswith("equivalent")
  assert same["ci_low"] < 0 < same["ci_high"]


def test_readme_block_is_the_report_of_the_committed_results(tmp_path):
  readme = open(study.README).read()
  block = re.search(re.escape(study.README_BEGIN) + r"\n(.*?)\n"
                    + re.escape(study.README_END), readme, re.S).group(1)
  if not os.path.exists(study.DEFAULT_OUT):
    assert block == "No run yet."
    return
  data = study_io.load_results(study.DEFAULT_OUT)
  assert block == study.report(data, str(tmp_path / "report"))


def verdict_phrase(result):
  """How the READMEs quote a primary contrast's decisive figures."""
  text = (f"{result['mean_diff']:+.2f} points, 95% CI "
          f"[{result['ci_low']:+.2f}, {result['ci_high']:+.2f}], ")
  if result["decision"].startswith("equivalent"):
    return text + ("TOST (±0.5 points) Holm p = "
                   + study.stats.format_p(result["tost_p_holm"]))
  return text + "Holm p = " + study.stats.format_p(result["t_p_holm"])


def test_readme_verdicts_quote_the_committed_results():
  if not os.path.exists(study.DEFAULT_OUT):
    pytest.skip("no committed results yet")
  data = study_io.load_results(study.DEFAULT_OUT)
  runs = {(r["arm"], r["seed"]): r for r in data["runs"].values()}
  seeds = study.complete_seeds(runs, study.ARMS)
  assert len(seeds) == 8  # the study is complete
  results = study.family(runs, study.PRIMARY, seeds)
  assert [r["decision"] for r in results] == [
      "better", "equivalent within ±0.5 points"]
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  for page in ("README.md", "docs/benchmarks.md", "benchmarks/README.md"):
    with open(os.path.join(root, page)) as f:
      text = " ".join(f.read().split())
    for r in results:
      assert verdict_phrase(r) in text, (page, verdict_phrase(r))
  with open(os.path.join(root, "docs", "benchmarks.md")) as f:
    summary_page = f.read()
  for arm in study.ARMS:  # the arm table: mean ± std over the seeds
    acc = np.array([100 * runs[arm, s]["test_accuracy"] for s in seeds])
    cell = f"{acc.mean():.2f} ± {np.std(acc, ddof=1):.2f} |"
    assert cell in summary_page, arm
