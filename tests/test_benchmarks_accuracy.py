"""Smoke test for benchmarks/accuracy.py (the accuracy study).

Runs the study on its ``--quick`` setting (digits, small CNN, SGD,
conventional vs lerac, one sweep value each, 2 seeds, 1 epoch), killed after
three runs and resumed, then checks the report.
"""

import json
import os

import pytest

from benchmarks import accuracy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quick_study_resumes_and_reports(tmp_path, capsys):
  out = tmp_path / "acc.json"
  accuracy.main(["--quick", "--out", str(out), "--max_runs", "3"])
  first = json.loads(out.read_text())["runs"]
  assert len(first) == 3
  # Seed-major: the first seed's runs come first.
  assert {r["seed"] for r in first.values()} == {0}

  accuracy.main(["--quick", "--out", str(out)])
  runs = json.loads(out.read_text())["runs"]
  assert len(runs) == 8  # 2 seeds x (2 regimes + 1 k + 1 min_scale)
  for key, run in first.items():  # resumed, not re-run
    assert runs[key]["wall_time"] == run["wall_time"]
  for run in runs.values():
    assert 0.0 <= run["final"]["test"] <= 1.0
    assert run["num_test"] > 0 and run["final"]["test_correct"]

  text = (tmp_path / "acc.md").read_text()
  assert "8 of 8 planned runs done" in text
  assert "| lerac |" in text and "McNemar (descriptive)" in text
  assert "| t p, Holm | t p, BH |" in text
  assert "| small_cnn, sgd | 2 | " in text  # the headline row
  assert "Sweep of k_epochs" in text and "lerac min_scale=0.01" in text
  assert (tmp_path / "acc_learning_curves.png").stat().st_size > 0

  # Other settings refuse to mix into the same file.
  with pytest.raises(SystemExit, match="other settings"):
    accuracy.main(["--quick", "--out", str(out), "--k_epochs", "1.0"])


def test_readme_tables_match_committed_results(tmp_path):
  path = accuracy.DEFAULT_OUT
  if not os.path.exists(path):
    pytest.skip("no committed results yet")
  with open(path) as f:
    text = accuracy.report(json.load(f), str(tmp_path / "report"))
  with open(os.path.join(ROOT, "benchmarks", "README.md")) as f:
    readme = f.read()
  start = "<!-- rendered from results/accuracy_fashion_mnist.json -->\n"
  assert start in readme
  rendered = readme.split(start, 1)[1].split("<!-- end rendered -->", 1)[0]
  assert rendered.strip() == text.strip()
  with open(os.path.splitext(path)[0] + ".md") as f:
    assert f.read() == text  # the committed report is the JSON's


def _record(regime, seed):
  return {"regime": regime, "seed": seed, "final": {"test": 0.5},
          "best": {"test": 0.5}}


def test_rerun_regimes_replaces_only_the_runs_a_setting_change_affects():
  old = {"epochs": 2, "k_epochs": 0.5}  # written before cbs_final_sigma
  runs = {f"{g}|{s}": _record(g, s) for g in ("conventional", "cbs",
                                              "cbs+lerac") for s in (0, 1)}
  new = {**old, "cbs_final_sigma": 0.05}

  def study():
    return {"meta": {"settings": dict(old)}, "runs": dict(runs)}

  with pytest.raises(SystemExit, match="--rerun_regimes cbs,cbs[+]lerac"):
    accuracy.replace_changed_runs(study(), new, [], "f.json")
  with pytest.raises(SystemExit, match="other settings"):  # cbs+lerac kept
    accuracy.replace_changed_runs(study(), new, ["cbs"], "f.json")
  with pytest.raises(SystemExit, match="other settings"):  # not CBS-only
    accuracy.replace_changed_runs(study(), {**new, "k_epochs": 1.0},
                                  ["cbs", "cbs+lerac"], "f.json")

  data = study()
  accuracy.replace_changed_runs(data, new, ["cbs", "cbs+lerac"], "f.json")
  assert sorted(data["runs"]) == ["conventional|0", "conventional|1"]
  (rerun,) = data["meta"]["reruns"]
  assert rerun["regimes"] == ["cbs", "cbs+lerac"]
  assert rerun["changed_settings"] == {"cbs_final_sigma": [None, 0.05]}
  assert sorted(rerun["removed"]) == ["cbs+lerac|0", "cbs+lerac|1", "cbs|0",
                                      "cbs|1"]

  # Resuming the rerun with the same settings deletes nothing more.
  data["meta"]["settings"] = new
  data["runs"]["cbs|0"] = _record("cbs", 0)
  accuracy.replace_changed_runs(data, new, ["cbs", "cbs+lerac"], "f.json")
  assert "cbs|0" in data["runs"] and len(data["meta"]["reruns"]) == 1
