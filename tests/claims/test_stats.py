import math

import numpy as np
import pytest

from logitrepro.claims import power as P
from logitrepro.claims import stats as S

T_975_DF2 = 4.302652729749464  # Student t quantile, 97.5%, 2 degrees of freedom (tables)


def test_seed_stats_t_interval():
    st = S.seed_stats([1.0, 2.0, 3.0])
    assert st.mean == 2.0 and st.sd == pytest.approx(1.0)
    half = T_975_DF2 * 1.0 / math.sqrt(3)
    assert (st.ci_low, st.ci_high) == pytest.approx((2.0 - half, 2.0 + half))


def test_one_seed_has_unbounded_interval():
    st = S.seed_stats([5.0])
    assert st.ci_low == -math.inf and st.ci_high == math.inf


def test_log_ratio_interval_is_symmetric_in_log_space():
    st = S.log_seed_stats([2.0, 0.5, 1.0])
    assert st.mean == pytest.approx(1.0)  # geometric mean: 2 and 1/2 cancel
    assert st.ci_low * st.ci_high == pytest.approx(1.0) and st.log
    with pytest.raises(ValueError):
        S.log_seed_stats([1.0, -1.0])


def test_count_test_is_exact_binomial():
    t = S.count_test(0, 5)
    assert t.p_fewer == pytest.approx(0.5**5) and t.p_more == 1.0
    assert S.count_test(1, 0).p_fewer == pytest.approx(1.0) and S.count_test(0, 1).p_fewer == pytest.approx(0.5)
    assert S.count_test(0, 0).p_fewer == 1.0
    assert S.events_needed() == 5  # 0.5**5 < 0.05 <= 0.5**4


def test_pass_probability_matches_the_verdicts_it_predicts():
    """The simulated power is what the interval rule does: judge many replications directly."""
    rng = np.random.default_rng(7)
    region, mu, sd, n = (0.0, 1.0), 0.6, 0.2, 4
    hits = 0
    for _ in range(2000):
        st = S.seed_stats(rng.normal(mu, sd, n))
        hits += region[0] <= st.ci_low and st.ci_high <= region[1]
    assert P.pass_probability(mu, sd, n, region) == pytest.approx(hits / 2000, abs=0.04)


def test_seeds_needed_reaches_the_target():
    region, mu, sd = (-2.0, 2.0), 0.0, 1.0  # a band of +-2 sd around the truth
    n = P.seeds_needed(mu, sd, region)
    assert P.pass_probability(mu, sd, n, region) >= 0.8 > P.pass_probability(mu, sd, n - 1, region)
