"""The cylinder benchmark's seed table (benchmarks/cylinder.py): seeds of a recipe and of a peer grouped."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import cylinder  # noqa: E402


def _forecast(u: float, p: float, st_model: float) -> dict:
    case = {"U": [u, u], "U_persist": [1.0, 1.0], "p": [p, p], "p_persist": [1.0, 1.0],
            "St_model": st_model, "St_solver": 0.2}
    return {"forecast": {"held-in": {"cases": [case, case]}}}


def test_seed_table_groups_recipe_seeds_their_anchor_rows_and_peer_seeds():
    res = {"recipes": {
        "tiny-48": _forecast(0.1, 0.2, 0.22), "tiny-48 + anchor": _forecast(0.1, 0.2, 0.2),
        "tiny-48-s1": _forecast(0.3, 0.4, 0.18), "tiny-48-s1 + anchor": _forecast(0.1, 0.2, 0.2),
        "tiny": _forecast(0.5, 0.5, 0.2),  # one seed: no row
        "FNO peer": {"peer": "fno", **_forecast(0.02, 0.04, 0.2)},
        "FNO peer (seed 2)": {"peer": "fno", **_forecast(0.04, 0.08, 0.21)},
    }}
    rows = cylinder._seed_lines(res)
    body = {r.split("|")[1].strip(): r for r in rows[2:]}
    assert set(body) == {"tiny-48", "tiny-48 + anchor", "FNO peer"}
    assert "| 0, 1 | 0.100 / 0.300 | **0.200** | 0.200 / 0.400 | **0.300** | 10.0% / 10.0% | **10.0%** |" in body["tiny-48"]
    assert "| 0, 2 |" in body["FNO peer"] and "**0.030**" in body["FNO peer"] and "**2.5%**" in body["FNO peer"]
    assert cylinder._seed_lines({"recipes": {"tiny": _forecast(0.5, 0.5, 0.2)}}) == []


def test_thinned_keeps_a_seeded_subset_of_the_points_with_their_values():
    import numpy as np

    from echo_model.data.trajectory import Trajectory

    pts = np.random.default_rng(0).uniform(size=(50, 2))
    fields = np.random.default_rng(1).normal(size=(3, 50, 3)).astype(np.float32)
    traj = Trajectory(points=pts, fields=fields, times=[0.0, 0.1, 0.2], field_layout=[("U", 2), ("p", 1)],
                      params={"Re": 100.0}, metadata={"shape": "ellipse"})
    thin = cylinder.thinned(traj, 20, seed=4)
    assert thin.n_points == 20 and thin.metadata == {"shape": "ellipse", "thinned_from": 50}
    rows = [int(np.flatnonzero((pts == p).all(1))[0]) for p in thin.points]
    assert np.array_equal(thin.fields, fields[:, rows]) and thin.params == {"Re": 100.0}
    assert np.array_equal(cylinder.thinned(traj, 20, seed=4).points, thin.points)
    assert cylinder.thinned(traj, 80, seed=4) is traj


def test_target_table_marks_a_set_met_only_when_u_p_and_st_all_are():
    def fc(u, p, st):
        case = {"U": [u], "U_persist": [1.0], "p": [p], "p_persist": [1.0], "St_model": st, "St_solver": 0.2}
        return {"cases": [case]}

    res = {"recipes": {"m": {"forecast": {"held-in": fc(0.4, 0.6, 0.203), "finer": fc(0.4, 0.8, 0.2),
                                          "triangles": fc(0.9, 0.9, 0.209)}}}}
    rows = {r.split("|")[2].strip(): r for r in cylinder._target_lines(res)[2:]}
    assert rows["held-in"].endswith("| yes |") and "1.5 % (<= 2 %)" in rows["held-in"]
    assert rows["finer"].endswith("| no |") and "0.80x (<= 0.7x)" in rows["finer"]
    assert rows["triangles"].endswith("| yes |")


def test_seed_target_table_bounds_every_case_by_its_mean_abs_st_error_over_the_seeds():
    def fc(st_a: float, st_b: float) -> dict:
        cases = [{"U": [0.4], "U_persist": [1.0], "p": [0.6], "p_persist": [1.0], "St_model": s, "St_solver": 0.2}
                 for s in (st_a, st_b)]
        return {"forecast": {"held-in": {"cases": cases}}}

    # case 1: +3 % and -3 %: the signed mean is 0, the mean of abs 3 % -> not met; case 2 within 1 % each seed
    res = {"recipes": {"m": fc(0.206, 0.202), "m-s1": fc(0.194, 0.198), "m-s2": fc(0.206, 0.202)}}
    rows = cylinder._seed_target_lines(res)
    assert len(rows) == 3 and "| m | 0, 1, 2 | held-in |" in rows[2]
    assert "+3.0 / -3.0 / +3.0 (3.0); +1.0 / -1.0 / +1.0 (1.0) % (<= 2 %)" in rows[2] and rows[2].endswith("| no |")
    res["recipes"]["m-s1"] = fc(0.203, 0.198)
    res["recipes"]["m"] = res["recipes"]["m-s2"] = fc(0.203, 0.202)
    assert cylinder._seed_target_lines(res)[2].endswith("| yes |")
    assert cylinder._seed_target_lines({"recipes": {"m": fc(0.2, 0.2)}}) == []  # one seed: no table


def test_st_diagnosis_report_has_a_row_per_probe_and_the_held_in_mean(tmp_path):
    import cylinder_st_diagnosis as diag

    cases = [{"set": s, "case": i, "Re": 100.0 + i, "shape": "circle", "St_solver": 0.3}
             for s, i in (("held-in", 0), ("held-in", 1), ("triangles", 0))]
    res = {"command": "x", "cases": cases, "rows": {"autoencoder": [0.001, -0.001, 0.0], "forecast": [0.04, -0.02, 0.3]},
           "training": {"n": 44, "mean": 0.018, "mean_abs": 0.048, "std": 0.06, "per_case": []}}
    diag.write_report(res, tmp_path)
    md = (tmp_path / "cylinder_st_diagnosis.md").read_text()
    assert "| forecast | +4.0 % | -2.0 % | +30.0 % | 3.0 % |" in md  # the mean over held-in only
    assert "| autoencoder | +0.1 % | -0.1 % | +0.0 % | 0.1 % |" in md
    assert "44 training cases" in md and "mean abs 4.8 %" in md
