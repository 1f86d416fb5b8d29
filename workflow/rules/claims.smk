localrules:
    judge,
    verdict_metrics,
    claims_history,


rule judge:
    """Judge every claim of a paper from the seeds of its runs, and what each cost; the runs
    that trained without live tracking are recorded in MLflow here, one writer per paper.
    """
    input:
        lambda wc: run_files(wc.paper, "metrics.json"),
    output:
        # missing while a claims file cannot be read (logitrepro.repair)
        [touch(f) for f in REPAIRS.judge_receipts()],
        claims=f"{RESULTS}/claims/{{paper}}.json",
    log:
        f"{RESULTS}/logs/judge/{{paper}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/judge/{{paper}}.tsv"
    # as soon as a paper's runs are in, before the training left: a judge records hundreds of runs
    # in MLflow on one core, and left to the end it would be the run's last job, alone
    priority: 10
    conda:
        "../envs/logitrepro.yaml"
    params:
        settings=judge_settings,
    shell:
        'python -m logitrepro judge --config "$LOGITREPRO_CONFIG" --paper {wildcards.paper:q} --metrics {input:q} '
        "--out {output.claims:q} > {log:q} 2>&1 && "
        "python -m logitrepro provenance --inputs {input:q} --outputs {output.claims:q} >> {log:q} 2>&1"


rule verdict_metrics:
    """A paper's claims counted by verdict: DVC's metrics file for the paper (a row of
    `dvc metrics show`), not the whole claims file; and its runs' training curves, for DVC's plots.
    """
    input:
        f"{RESULTS}/claims/{{paper}}.json",
    output:
        metrics=f"{RESULTS}/metrics/{{paper}}.json",
        curves=f"{RESULTS}/metrics/{{paper}}_curves.json",
    log:
        f"{RESULTS}/logs/verdict_metrics/{{paper}}.log",
    conda:
        "../envs/logitrepro.yaml"
    shell:
        'python -m logitrepro verdict-metrics --config "$LOGITREPRO_CONFIG" --claims {input:q} '
        "--out {output.metrics:q} "
        "--curves {output.curves:q} > {log:q} 2>&1 && "
        "python -m logitrepro provenance --inputs {input:q} --outputs {output:q} >> {log:q} 2>&1"


rule claims_history:
    """The judged claims into MLflow's claims history: a parent run for this invocation, a
    child per claim; claims identical to a recorded invocation's add nothing. Its record carries
    its inputs' content too, so that a pulled clone does not record again (logitrepro.provenance).
    """
    input:
        [f"{RESULTS}/claims/{paper}.json" for paper in CFG.papers],
    output:
        f"{RESULTS}/tracking/claims_history.json",
    log:
        f"{RESULTS}/logs/claims_history.log",
    benchmark:
        f"{RESULTS}/benchmarks/claims_history.tsv"
    conda:
        "../envs/logitrepro.yaml"
    shell:
        'python -m logitrepro record-claims --config "$LOGITREPRO_CONFIG" --claims {input:q} --out {output:q} '
        "> {log:q} 2>&1 && "
        "python -m logitrepro provenance --inputs {input:q} --outputs {output:q} >> {log:q} 2>&1"
