"""What a run and a claim cost: the run's own CPU plus its share of its job's start-up."""

import pytest

from logitrepro.costs import claim_costs, read_benchmark, run_costs
from logitrepro.judging import build_claims_file
from tests.support import claim, direction_claim, paper_config

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def evaluation(run_dir, arm, seed, train_cpu, job_cpu, bench, device="cpu", runs=2, experiment="e"):
    return {
        "spec": {"experiment": experiment, "arm": arm, "seed": seed},
        "metrics": {"acc": 1.0, "status": "completed"},
        "run_dir": run_dir,
        "compute": {
            "device": device,
            "train_cpu_s": train_cpu,
            "train_wall_s": train_cpu + 1,
            "eval_cpu_s": 1.0,
            "eval_wall_s": 1.0,
            "job": {"benchmark": bench, "runs": runs, "cpu_s": job_cpu, "wall_s": job_cpu + 2},
        },
    }


def test_a_job_s_start_up_is_shared_by_its_runs(tmp_path):
    bench = tmp_path / "job.tsv"
    bench.write_text(HEADER + "40.0\t0:00:40\t500\t0\t0\t0\t0\t0\t50\t30.0\n")
    assert read_benchmark(bench) == {"s": 40.0, "cpu_time": 30.0, "max_rss": 500.0}
    evs = [evaluation("r/a", "a", 0, 10.0, 11.0, str(bench)), evaluation("r/b", "b", 0, 6.0, 7.0, str(bench))]
    costs = run_costs(evs)
    # the job spent 11 + 7 = 18 of its 30 CPU-seconds on the runs: 12 of start-up, 6 each
    assert costs["r/a"]["core_s"] == pytest.approx(10 + 1 + 6) and costs["r/b"]["core_s"] == pytest.approx(6 + 1 + 6)
    assert costs["r/a"]["startup_core_s"] == pytest.approx(6) and costs["r/a"]["gpu_s"] == 0
    # wall: 40 s less (13 + 9) spent on the runs, 9 each, on top of each run's own 12 and 8
    assert costs["r/a"]["wall_s"] == pytest.approx(12 + 9)


def test_a_start_up_measured_in_the_job_s_process_is_preferred_to_the_sampled_benchmark(tmp_path):
    bench = tmp_path / "job.tsv"
    bench.write_text(HEADER + "40.0\t0:00:40\t500\t0\t0\t0\t0\t0\t50\t5.0\n")  # sampled: misses CPU
    evs = [evaluation("r/a", "a", 0, 10.0, 11.0, str(bench)), evaluation("r/b", "b", 0, 6.0, 7.0, str(bench))]
    for e in evs:
        e["compute"]["job"].update(startup_cpu_s=3.0, startup_wall_s=4.0)
    costs = run_costs(evs)
    assert costs["r/a"]["startup_core_s"] == pytest.approx(1.5) and costs["r/a"]["core_s"] == pytest.approx(12.5)
    assert costs["r/b"]["wall_s"] == pytest.approx(8 + 2) and "measured in the job's process" in costs["r/b"]["startup"]


def test_a_run_without_a_benchmark_costs_its_own_cpu_and_says_so_and_a_gpu_run_counts_gpu_seconds(tmp_path):
    costs = run_costs([evaluation("r/a", "a", 0, 10.0, 11.0, None, device="cuda", runs=1)])
    assert costs["r/a"]["core_s"] == 11.0 and costs["r/a"]["gpu_s"] == 12.0
    assert "not measured" in costs["r/a"]["startup"]


def test_a_claim_costs_the_runs_it_reads_and_a_tuned_arm_its_whole_grid(tmp_path):
    pc = paper_config(direction_claim(), claim("p.abs", "absolute", arm="m", claimed=1.0, tolerance=0.1))
    evs = [
        evaluation(f"r/{arm}{s}", arm, s, cpu, cpu, None, runs=1)
        for arm, cpu in (("m", 10.0), ("b__t0", 100.0), ("b__t1", 1000.0), ("other", 5.0))
        for s in (0, 1)
    ]
    for e in evs:
        e["metrics"]["acc"] = 1.0 + 0.01 * e["spec"]["seed"]
    context = {
        "e": {
            "seeds": [0, 1],
            "tune": {"b": {"b__t0": {"lr": 1}, "b__t1": {"lr": 2}}},
            "select_by": {"metric": "acc", "better": "higher"},
        }
    }
    cf = build_claims_file(pc, "cpu", evs, context)
    by_id = {c["id"]: c for c in cf["claims"]}
    assert by_id["p.dir"]["reads"] == ["b__t0", "b__t1", "m"]
    assert by_id["p.dir"]["cost"]["core_s"] == pytest.approx(2 * (11 + 101 + 1001))
    assert by_id["p.abs"]["reads"] == ["m"] and by_id["p.abs"]["cost"]["core_s"] == pytest.approx(22)
    assert cf["cost"]["core_s"] == pytest.approx(2 * (11 + 101 + 1001 + 6)) and cf["cost"]["runs"] == 8
    claim_costs(cf["claims"], [], {})  # no runs: a zero cost, not an error
    assert by_id["p.abs"]["cost"]["runs"] == 0
