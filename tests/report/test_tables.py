from logitrepro.claims.kinds import CLASSES
from logitrepro.judging import build_claims_file
from logitrepro.report.board import terminal_summary
from logitrepro.report.tables import render
from tests.support import claim, direction_claim, md_rows, paper_config


def claims_file():
    pc = paper_config(
        claim("p.abs", "absolute", arm="m", claimed=90.0, tolerance=1.0, units="%"),
        direction_claim(judged_at=["paper"]),
        claim("p.sane", "absolute", arm="b", accept=[0, None], **{"class": "sanity"}),
        title="A & B 100%",
        arxiv="1.1v2",
    )
    pc["report"] = {"metrics": ["acc"], "labels": {"acc": "acc. %"}}
    evals = [
        {"spec": {"experiment": "e", "arm": arm, "seed": s}, "metrics": {"acc": v, "status": "completed"}}
        for arm, vals in (("m", [90.1, 90.3, 89.9]), ("b", [80.0, 81.0, 82.0]))
        for s, v in enumerate(vals)
    ]
    return build_claims_file(pc, "cpu", evals)


def test_tables_put_claimed_beside_reproduced_in_three_formats():
    out = render(claims_file())
    md = out["md"]
    assert ["e", "m", "90", "90.10 ± 0.50", "3"] in md_rows(md)  # t(2)=4.303 * 0.2/sqrt(3) = 0.497
    assert "2 paper claims: 1 reproduced, 1 not checked at this scale" in md
    assert md.index("## Paper claims") < md.index("## Sanity checks") and "p.sane" in md.split("## Sanity checks")[1]
    assert r"A \& B 100\%" in out["tex"] and r"$\pm$" in out["tex"]
    assert "A &amp; B 100%" in out["html"] and "<table>" in out["html"]
    # the claims come before the results per arm; in HTML the verdict carries its colour
    assert md.index("## Paper claims") < md.index("## Results per arm")
    assert "<span class='v v-reproduced'>reproduced</span>" in out["html"]
    assert r"\begin{tabularx}{\linewidth}" in out["tex"] and r"\small" in out["tex"]


def test_terminal_summary_lists_every_claim_by_class():
    text = terminal_summary([claims_file()], classes=CLASSES, fold=())
    assert "p.abs" in text and "p.dir" in text and "reproduced" in text
    assert text.index("Paper claims") < text.index("Sanity checks") < text.index("p.sane")


def test_open_regions_and_unreached_targets_read_plainly():
    pc = {
        "paper": {"id": "p", "title": "t", "arxiv": "1.1v1"},
        "report": {},
        "claims": [
            {
                "id": "p.cost",
                "statement": "m reaches b's ppl sooner",
                "source": "abs",
                "kind": "cost_to_target",
                "experiment": "e",
                "metric": "val_ppl",
                "cost": "step",
                "better": "lower",
                "method": "m",
                "baseline": "b",
                "accept": [None, 1.0],
                "judged_at": ["cpu"],
            }
        ],
    }
    base = {"step": [1.0, 2.0], "val_ppl": [200.0, 100.0]}
    never = {"step": [1.0, 2.0], "val_ppl": [300.0, 250.0]}
    evals = [
        {"spec": {"experiment": "e", "arm": arm, "seed": s}, "metrics": {"curve": c, "status": "completed"}}
        for arm, c in (("m", never), ("b", base))
        for s in (0, 1)
    ]
    md = render(build_claims_file(pc, "cpu", evals))["md"]
    assert "cost_to_target in [-∞, 1]" in md and "per seed: ∞, ∞" in md and "not reproduced" in md


def test_budget_robustness_table_puts_each_budget_s_verdict_side_by_side():
    pc = {
        "paper": {"id": "p", "title": "t", "arxiv": "1.1v1"},
        "report": {},
        "claims": [
            {
                "id": "p.dir",
                "statement": "m beats b",
                "source": "abs",
                "kind": "direction",
                "experiment": "e",
                "metric": "acc",
                "method": "m",
                "baseline": "b",
                "better": "higher",
                "judged_at": ["cpu"],
                "budgets": [1, 5],
            }
        ],
    }
    evals = [
        {"spec": {"experiment": "e", "arm": arm, "seed": s}, "metrics": {"acc": v + s, "status": "completed"}}
        for arm, v in (("m", 1.0), ("b", 2.0), ("m_x5", 3.0), ("b_x5", 2.0))
        for s in (0, 1)
    ]
    md = render(build_claims_file(pc, "cpu", evals))["md"]
    section = md.split("## Budget robustness")[1]
    assert ["claim", "1× scale", "5× scale", "robustness"] in md_rows(section)
    assert [
        "p.dir",
        "-1.00 ± 0.00: not reproduced",
        "1.00 ± 0.00: reproduced",
        "flips between 1× scale and 5× scale (not reproduced → reproduced)",
    ] in md_rows(section)


def test_each_html_row_links_its_mlflow_runs_and_the_command_that_reruns_them():
    from logitrepro.config import TrainGroup
    from logitrepro.judging import add_reruns

    cf = claims_file()
    for r in cf["runs"]:
        r["mlflow_run_id"] = f"id-{r['arm']}-{r['seed']}"
    cf["mlflow"] = {"ui": "http://127.0.0.1:5000", "experiment_id": "7"}
    groups = [TrainGroup("p", "e", arm, tuple((arm, s) for s in range(3))) for arm in ("m", "b")]
    add_reruns(cf, groups, "results/tables/p.html", "scale=cpu")
    by_id = {c["id"]: c for c in cf["claims"]}
    # --forcerun alone would keep the finished runs (train.train) and only evaluate them again:
    # retrain=true makes the command do what it says, train the runs afresh
    assert by_id["p.dir"]["rerun"] == (
        "snakemake results/tables/p.html --cores all --config scale=cpu retrain=true "
        "--forcerun train__p__e__b train__p__e__m"
    )
    assert by_id["p.abs"]["rerun"].endswith("--forcerun train__p__e__m")
    page = render(cf)["html"]
    row = next(r for r in page.split("<tr>") if "p.abs" in r)
    assert "<a href='http://127.0.0.1:5000/#/experiments/7/runs/id-m-0'>m/0</a>" in row
    assert "id-b-0" not in row  # p.abs reads arm m only
    assert "rerun: <code>snakemake results/tables/p.html --cores all" in row


def test_claims_and_papers_carry_their_cost():
    cf = claims_file()
    for c in cf["claims"]:
        c["cost"] = {
            "core_s": 1234.4,
            "gpu_s": 0.0,
            "wall_s": 2000.0,
            "runs": 3,
            "startup_core_s": 10.0,
            "devices": ["cpu"],
        }
    cf["cost"] = {
        "core_s": 2500.0,
        "gpu_s": 0.0,
        "wall_s": 4000.0,
        "runs": 6,
        "startup_core_s": 20.0,
        "devices": ["cpu"],
    }
    md = render(cf)["md"]
    assert "Compute: 2,500 core-s over 6 runs on cpu (20 core-s of it job start-up)" in md
    assert any(row[0] == "p.abs" and "1,234 core-s" in row for row in md_rows(md))
    assert "2,500 core-s" in terminal_summary([cf])  # per paper, in the tally table


def test_a_claim_reading_a_whole_grid_folds_its_run_links_and_text_columns_get_a_readable_width():
    from logitrepro.report.tables import RUN_LINKS_SHOWN, run_links

    runs = [{"experiment": "e", "arm": f"a{i}", "seed": 0, "mlflow_run_id": f"id{i}"} for i in range(40)]
    cf = {"runs": runs, "mlflow": {"ui": "http://ui", "experiment_id": "3"}}
    many = run_links(cf, {"experiment": "e", "reads": [f"a{i}" for i in range(40)]})
    assert many.startswith("<details><summary>40 runs in MLflow</summary>") and many.count("<a href") == 40
    few = run_links(cf, {"experiment": "e", "reads": [f"a{i}" for i in range(RUN_LINKS_SHOWN)]})
    assert "<details>" not in few and few.count("<a href") == RUN_LINKS_SHOWN
    page = render(claims_file())["html"]
    assert "<td class='w'>" in page and "<td class='n'>90.10 ± 0.50" in page and ".w{min-width:14em}" in page
