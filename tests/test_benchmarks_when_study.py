# Copyright 2026 The lerac_jax Authors.
# Licensed under the Apache License, Version 2.0.
"""The preregistered when-study: a tiny plan end to end, resume, refusal."""

import json
import os

import numpy as np
import pytest
from scipy import stats

from benchmarks import study_io
from benchmarks import when_study as study


def test_tiny_plan_runs_resumes_and_reports(tmp_path, capsys):
  out = str(tmp_path / "w.json")
  common = ["--tiny", "--out", out, "--checkpoint_dir", str(tmp_path / "ck")]
  study.main(common + ["--max_runs", "3"])
  data = study_io.load_results(out)
  assert len(data["runs"]) == 3
  assert all(k.startswith("tune|") for k in data["runs"])
  record = next(iter(data["runs"].values()))
  assert record["commit"] and isinstance(record["dirty"], bool)
  # The outcome is the test accuracy at the best validation epoch.
  curve = record["val_curve"]
  assert curve[record["best_epoch"]] == max(curve[1:])
  capsys.readouterr()
  # Resumed with another data path (not a setting): 5 tuning runs to go.
  data = study.main(common + ["--data_dir", str(tmp_path / "nowhere")])
  printed = capsys.readouterr().out
  assert "tune: 8 runs, 3 done, 5 to go" in printed
  assert "study: 8 runs, 0 done, 8 to go" in printed
  runs = data["runs"]
  assert len(runs) == 16
  # Each arm's study rate is its best mean validation rate on the grid.
  for cell in ("scratch-d4-sgd", "finetune-d4-sgd"):
    for arm in ("warmup", "lerac_eq8"):
      val = {lr: runs[study.tune_key(cell, arm, lr, 1000)]["best_val_accuracy"]
             for lr in study.GRIDS["sgd"][:2]}
      chosen = runs[study.study_key(cell, arm, 0)]["lr"]
      assert val[chosen] == max(val.values())
  # Same seed, same initial weights: the arms of a cell start alike.
  starts = {runs[study.study_key("scratch-d4-sgd", a, 1)]["val_curve"][0]
            for a in ("warmup", "lerac_eq8")}
  assert len(starts) == 1
  assert 0 < data["meta"]["pretrained"]["4"]["val_accuracy"] <= 1
  text = open(str(tmp_path / "w.md")).read()
  assert "Pre-trained models" in text
  assert "Primary contrast" in text and "lerac_eq8 - warmup" in text
  assert "OLS" not in text  # two cells cannot fit the regression
  assert os.path.exists(str(tmp_path / "w.png"))
  capsys.readouterr()
  study.main(common)  # nothing left to run
  assert "0 to go" in capsys.readouterr().out
  # A session bounded in time stops after the run that reaches the bound.
  bounded = str(tmp_path / "b.json")
  study.main(["--tiny", "--out", bounded, "--checkpoint_dir",
              str(tmp_path / "ck"), "--budget_s", "0.5"])
  assert len(study_io.load_results(bounded)["runs"]) == 1
  # The pilot times one arm per cell and projects the plan's total.
  pilot = study.main(common + ["--pilot"])
  assert [c["cell"] for c in pilot["cells"]] == [
      "scratch-d4-sgd", "finetune-d4-sgd"]
  assert pilot["runs"] == 16 and pilot["projected_s"] > 0
  assert os.path.exists(str(tmp_path / "w_pilot.json"))


def test_a_changed_protocol_setting_is_refused(tmp_path):
  out = tmp_path / "w.json"
  args = study.parse_args(["--tiny", "--out", str(out)])
  settings = study.study_settings(args)
  settings["configs"]["scratch-d4-sgd|warmup"]["warmup_init"] = 0.5
  out.write_text(json.dumps({"meta": {"settings": settings},
                             "runs": {"x": {}}}))
  with pytest.raises(SystemExit, match="warmup_init"):
    study.main(["--tiny", "--out", str(out)])


def test_paths_are_not_settings():
  a = study.study_settings(study.parse_args(["--tiny"]))
  b = study.study_settings(study.parse_args(
      ["--tiny", "--data_dir", "/x", "--checkpoint_dir", "/y",
       "--out", "/z.json"]))
  assert study.protocol_changes(a, b) == []
  assert "data_dir" not in json.dumps(a)


def test_decisions_and_power_follow_the_registered_rule():
  rng = np.random.default_rng(0)
  acc = {}
  cells = [{"name": "c", "arms": ["lerac_eq8", "warmup", "conventional"]}]
  for s in range(16):
    base = 90 + rng.standard_normal()
    acc["c", "warmup", s] = base
    acc["c", "lerac_eq8", s] = base + 0.01 * rng.standard_normal()
    acc["c", "conventional", s] = base - 1 + 0.1 * rng.standard_normal()
  primary = study.family(acc, cells, study.PRIMARY)[0]
  assert primary["decision"] == "equivalent within ±0.2"
  assert primary["ci_low"] < 0 < primary["ci_high"]
  assert 0 < primary["mdd"] < 0.05
  secondary = {(r["a"], r["b"]): r
               for r in study.family(acc, cells, study.SECONDARY)}
  better = secondary["lerac_eq8", "conventional"]
  assert better["decision"] == "better" and better["t_p_holm"] >= better["t_p"]
  # Power: a true difference of one MDD is found 80% of the time.
  n = better["n"]
  shift = better["mdd"] / better["sd_diff"] * np.sqrt(n)
  crit = stats.t.ppf(0.975, n - 1)
  power = stats.nct.sf(crit, n - 1, shift) + stats.nct.cdf(-crit, n - 1,
                                                            shift)
  assert power == pytest.approx(0.8, abs=1e-3)


def test_the_full_plan_refuses_to_start_without_the_layerwise_engine(
    tmp_path, monkeypatch):
  import lerac_jax
  monkeypatch.delattr(lerac_jax, "scale_by_layer_decay", raising=False)
  with pytest.raises(SystemExit, match="scale_by_layer_decay"):
    study.check_engine(study.parse_args([]))
  args = study.parse_args([])
  assert sum(len(c.arms) for c in args.cells) == 82
  assert len(study.tuning_plan(args)) == 492
  assert len(study.study_plan(args)) == 1312
  primary = study.family({}, study.study_settings(args)["cells"],
                         study.PRIMARY)
  secondary = study.family({}, study.study_settings(args)["cells"],
                           study.SECONDARY)
  assert (len(primary), len(secondary)) == (15, 67)  # as preregistered


def test_readme_block_is_the_report_of_the_committed_results(tmp_path):
  if not os.path.exists(study.DEFAULT_OUT):
    pytest.skip("the study has not run yet")
  readme = open(study.README).read()
  start = readme.index(study.README_BEGIN) + len(study.README_BEGIN) + 1
  block = readme[start:readme.index(study.README_END)].rstrip("\n")
  data = study_io.load_results(study.DEFAULT_OUT)
  assert block == study.report(data, str(tmp_path / "w")).rstrip("\n")


def test_verdicts_quote_the_committed_results():
  if not os.path.exists(study.DEFAULT_OUT):
    pytest.skip("the study has not run yet")
  data = study_io.load_results(study.DEFAULT_OUT)
  assert sum(r["phase"] == "study" for r in data["runs"].values()) == 1312
  acc = study.accuracies(data)
  cells = data["meta"]["settings"]["cells"]
  primary = study.family(acc, cells, study.PRIMARY)
  decisions = [r["decision"] for r in primary]
  assert decisions.count("better") == 0
  worse = [r for r in primary if r["decision"] == "worse"]
  small = sorted(r["mean_diff"] for r in worse if r["cell"] !=
                 "finetune-d16-sgd")
  collapse = next(r for r in primary if r["cell"] == "finetune-d16-sgd")
  mdds = [r["mdd"] for r in primary if r is not collapse]
  fit = study.regression(acc, cells, "lerac_eq8", "warmup")
  refit = study.regression(
      acc, [c for c in cells if c["name"] != collapse["cell"]],
      "lerac_eq8", "warmup")
  seeds = data["meta"]["settings"]["seeds"]
  sd = {c["name"]: np.std([acc[c["name"], "conventional", s]
                           for s in seeds], ddof=1)
        for c in cells if c["init"] == "pretrained"}
  others = [v for k, v in sd.items() if k != collapse["cell"]]
  phrases = [
      f"worse in {len(worse)} of 15 cells",
      f"equivalent within ±0.2 points in "
      f"{decisions.count('equivalent within ±0.2')}",
      f"inconclusive in {decisions.count('inconclusive')}",
      f"{small[-1]:.2f} to {small[0]:.2f} points",
      f"{collapse['mean_diff']:.2f} points",
      f"SD across seeds is {sd[collapse['cell']]:.2f} points there, "
      f"{min(others):.2f} to {max(others):.2f} in the other fine-tuning cells",
      f"Holm p = {study.stats.format_p(fit['depth_joint_p_holm'])} and "
      f"{study.stats.format_p(fit['init_p_holm'])}",
      f"Holm p = {refit['depth_joint_p_holm']:.2f} and "
      f"{refit['init_p_holm']:.2f}",
  ]
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  for page in ("README.md", "docs/benchmarks.md", "benchmarks/README.md"):
    with open(os.path.join(root, page)) as f:
      text = " ".join(f.read().split())
    for phrase in phrases:
      assert phrase in text, (page, phrase)
  with open(os.path.join(root, "README.md")) as f:
    text = " ".join(f.read().split())
  assert (f"{min(mdds):.2f} to {max(mdds):.2f} points outside that cell"
          in text)
  with open(os.path.join(root, "docs", "benchmarks.md")) as f:
    summary = f.read()
  for r in primary:  # the summary page's table of the primary contrasts
    row = (f"| {r['cell']} | {r['mean_diff']:+.2f} | [{r['ci_low']:+.2f}, "
           f"{r['ci_high']:+.2f}] | {r['mdd']:.2f} | {r['decision']} |")
    assert row in summary, row
