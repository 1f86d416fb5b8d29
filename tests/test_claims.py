import math

import pytest

from logitrepro import claims as C

T_975_DF2 = 4.302652729749464  # Student t quantile, 97.5%, 2 degrees of freedom (tables)


def test_seed_stats_t_interval():
    st = C.seed_stats([1.0, 2.0, 3.0])
    assert st.mean == 2.0 and st.sd == pytest.approx(1.0)
    half = T_975_DF2 * 1.0 / math.sqrt(3)
    assert (st.ci_low, st.ci_high) == pytest.approx((2.0 - half, 2.0 + half))


def test_one_seed_has_unbounded_interval():
    st = C.seed_stats([5.0])
    assert st.ci_low == -math.inf and st.ci_high == math.inf


@pytest.mark.parametrize(
    "interval, verdict",
    [((0.1, 0.2), C.REPRODUCED), ((1.5, 2.0), C.NOT_REPRODUCED), ((-3, -2), C.NOT_REPRODUCED),
     ((0.5, 1.5), C.INCONCLUSIVE), ((-2, 2), C.INCONCLUSIVE)],
)
def test_interval_verdict(interval, verdict):
    assert C.interval_verdict(*interval, accept_low=-1, accept_high=1) == verdict


def claim(**kw):
    base = {"id": "x", "statement": "s", "source": "Table 1", "experiment": "e", "metric": "acc",
            "judged_at": ["cpu"], "claimed": None}
    base.update(kw)
    return base


def runs(method, baseline):
    return {"m": {s: {"acc": v} for s, v in enumerate(method)}, "b": {s: {"acc": v} for s, v in enumerate(baseline)}}


def test_difference_is_paired_by_seed_and_judged_against_band():
    # Per-seed differences are all exactly -1.0: zero spread, so the CI is the point -1.
    r = runs([90.0, 80.0, 70.0], [91.0, 81.0, 71.0])
    rec = C.judge(claim(kind="difference", method="m", baseline="b", claimed=-1.2, tolerance=0.5), r, "cpu")
    assert rec["measured"]["mean"] == pytest.approx(-1.0)
    assert rec["verdict"] == C.REPRODUCED
    rec = C.judge(claim(kind="difference", method="m", baseline="b", claimed=1.0, tolerance=0.5), r, "cpu")
    assert rec["verdict"] == C.NOT_REPRODUCED


def test_difference_with_noisy_seeds_is_inconclusive():
    r = runs([90.0, 91.0, 89.0], [90.5, 89.0, 91.5])
    rec = C.judge(claim(kind="difference", method="m", baseline="b", claimed=0.0, tolerance=0.5), r, "cpu")
    assert rec["verdict"] == C.INCONCLUSIVE


def test_absolute_and_not_checked_at_other_scale():
    r = {"a": {0: {"acc": 99.1}, 1: {"acc": 99.2}, 2: {"acc": 99.15}}}
    c = claim(kind="absolute", arm="a", claimed=99.2, tolerance=0.5, judged_at=["paper"])
    rec = C.judge(c, r, "cpu")
    assert rec["verdict"] == C.NOT_CHECKED and "paper" in rec["check_with"]
    assert rec["measured"]["mean"] == pytest.approx(99.15)  # numbers still shown
    assert C.judge(c, r, "paper")["verdict"] == C.REPRODUCED


def test_direction_respects_higher_is_better():
    r = runs([2.0, 2.1, 2.2], [3.0, 3.1, 3.3])
    up = claim(kind="direction", method="m", baseline="b")
    down = claim(kind="direction", method="m", baseline="b", higher_is_better=False)
    assert C.judge(up, r, "cpu")["verdict"] == C.NOT_REPRODUCED
    assert C.judge(down, r, "cpu")["verdict"] == C.REPRODUCED


def test_ratio_and_bound():
    r = runs([2.0, 2.2, 2.1], [1.0, 1.1, 1.05])
    rec = C.judge(claim(kind="ratio", method="m", baseline="b", claimed=2.0, tolerance=0.1), r, "cpu")
    assert rec["measured"]["mean"] == pytest.approx(2.0) and rec["verdict"] == C.REPRODUCED
    b = {"a": {s: {"ce": v, "lb": 3.0} for s, v in enumerate([3.5, 3.6, 3.4])}}
    assert C.judge(claim(kind="bound", arm="a", metric="ce", bound_metric="lb"), b, "cpu")["verdict"] == C.REPRODUCED
    b = {"a": {s: {"ce": v, "lb": 4.0} for s, v in enumerate([3.5, 3.6, 3.4])}}
    assert C.judge(claim(kind="bound", arm="a", metric="ce", bound_metric="lb"), b, "cpu")["verdict"] == C.NOT_REPRODUCED


def test_non_finite_or_missing_runs_are_inconclusive_not_errors():
    r = runs([float("nan"), 1.0, 1.0], [1.0, 1.0, 1.0])
    rec = C.judge(claim(kind="difference", method="m", baseline="b", claimed=0.0, tolerance=1), r, "cpu")
    assert rec["verdict"] == C.INCONCLUSIVE and "non-finite" in rec["reason"]
    rec = C.judge(claim(kind="absolute", arm="zz", claimed=1.0, tolerance=1), r, "cpu")
    assert rec["verdict"] == C.INCONCLUSIVE


def test_judge_paper_indexes_evaluations():
    evals = [{"spec": {"experiment": "e", "arm": arm, "seed": s}, "metrics": {"acc": v}}
             for arm, vals in (("m", [1.0, 1.1, 1.2]), ("b", [2.0, 2.1, 2.2])) for s, v in enumerate(vals)]
    paper = {"paper": {"id": "p", "arxiv": "1.1v1"},
             "claims": [claim(kind="difference", method="m", baseline="b", claimed=-1.0, tolerance=0.2)]}
    (rec,) = C.judge_paper(paper, evals, "cpu")
    assert rec["verdict"] == C.REPRODUCED and rec["paper"] == "p" and rec["per_seed"]["0"] == pytest.approx(-1.0)


def test_accept_region_replaces_claimed_band_and_can_be_open():
    r = runs([0.3, 0.35, 0.32], [1.0, 1.0, 1.0])
    below_half = claim(kind="ratio", method="m", baseline="b", accept=[None, 0.5])
    rec = C.judge(below_half, r, "cpu")
    assert rec["accepted"] == [-math.inf, 0.5] and rec["verdict"] == C.REPRODUCED
    assert C.judge(claim(kind="ratio", method="m", baseline="b", accept=[None, 0.25]), r, "cpu")["verdict"] == \
        C.NOT_REPRODUCED
    # a strict direction: a tie (all zero differences) is not "more"
    ties = runs([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    strict = claim(kind="direction", method="m", baseline="b", accept=[0.01, None])
    assert C.judge(strict, ties, "cpu")["verdict"] == C.NOT_REPRODUCED
    assert C.judge(claim(kind="direction", method="m", baseline="b"), ties, "cpu")["verdict"] == C.REPRODUCED


def test_cost_at_interpolates_the_first_crossing():
    curve = {"train_s": [10.0, 20.0, 30.0], "val_ppl": [300.0, 200.0, 100.0]}
    assert C.cost_at(curve, "val_ppl", "train_s", 250.0) == pytest.approx(15.0)
    assert C.cost_at(curve, "val_ppl", "train_s", 300.0) == pytest.approx(10.0)
    assert C.cost_at(curve, "val_ppl", "train_s", 50.0) == math.inf
    acc = {"train_s": [1.0, 2.0], "val_acc": [50.0, 90.0]}
    assert C.cost_at(acc, "val_acc", "train_s", 70.0, lower_is_better=False) == pytest.approx(1.5)


def curve_runs(method_curves, baseline_curves):
    def arm(curves):
        return {s: {"curve": {"train_s": xs, "val_ppl": ys}} for s, (xs, ys) in enumerate(curves)}

    return {"m": arm(method_curves), "b": arm(baseline_curves)}


def test_cost_to_target_is_the_method_compute_to_reach_the_baseline_final_value():
    base = ([10.0, 20.0, 40.0], [300.0, 200.0, 150.0])  # reaches its final 150 at 40 s
    fast = ([10.0, 20.0, 40.0], [200.0, 150.0, 120.0])  # reaches 150 at 20 s
    r = curve_runs([fast, fast, fast], [base, base, base])
    c = claim(kind="cost_to_target", method="m", baseline="b", metric="val_ppl", cost="train_s", accept=[None, 1.0])
    rec = C.judge(c, r, "cpu")
    assert rec["per_seed"] == {"0": 0.5, "1": 0.5, "2": 0.5} and rec["verdict"] == C.REPRODUCED
    never = ([10.0, 20.0, 40.0], [400.0, 300.0, 200.0])
    rec = C.judge(c, curve_runs([never, never, fast], [base, base, base]), "cpu")
    assert rec["per_seed"]["0"] == math.inf and rec["verdict"] == C.INCONCLUSIVE  # one seed did get there
    rec = C.judge(c, curve_runs([never, never, never], [base, base, base]), "cpu")
    assert rec["verdict"] == C.NOT_REPRODUCED and "non-finite values: 3" in rec["reason"]


def test_a_claim_with_budgets_is_judged_once_per_budget_from_that_budget_s_runs():
    evals = [{"spec": {"experiment": "e", "arm": arm, "seed": s}, "metrics": {"acc": v + bonus}}
             for arm, bonus in (("m", 0.0), ("b", 1.0), ("m_x5", 2.0), ("b_x5", 1.0)) for s, v in enumerate([1.0, 1.1, 1.2])]
    paper = {"paper": {"id": "p", "arxiv": "1.1v1"},
             "claims": [claim(kind="direction", method="m", baseline="b", budgets=[1, 5])]}
    one, five = C.judge_paper(paper, evals, "cpu")
    assert (one["id"], one["budget"], one["arms"]) == ("x", 1, {"method": "m", "baseline": "b"})
    assert (five["id"], five["budget"], five["base_id"]) == ("x@5x", 5, "x")
    assert five["arms"] == {"method": "m_x5", "baseline": "b_x5"}
    assert one["verdict"] == C.NOT_REPRODUCED and five["verdict"] == C.REPRODUCED  # m wins only when trained longer


def test_baseline_metric_compares_two_metrics_of_one_run():
    r = {"both": {s: {"kl_fourier": f, "kl_linear": l} for s, (f, l) in enumerate([(0.1, 0.2), (0.12, 0.25), (0.11, 0.2)])}}
    c = claim(kind="direction", method="both", baseline="both", metric="kl_fourier", baseline_metric="kl_linear",
              higher_is_better=False)
    rec = C.judge(c, r, "cpu")
    assert rec["per_seed"] == pytest.approx({"0": 0.1, "1": 0.13, "2": 0.09}) and rec["verdict"] == C.REPRODUCED
    assert set(rec["arm_stats"]) == {"both", "both:kl_linear"}
