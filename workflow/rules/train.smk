rule train:
    """Train one run and evaluate its final checkpoint in the same process; resumes if interrupted."""
    input:
        data=ancient_input(dataset_dir),
    output:
        metrics=f"{RUN_DIR}/metrics.json",
        summary=f"{RUN_DIR}/train.json",
    log:
        f"{RESULTS}/logs/train/{{paper}}/{{experiment}}/{{arm}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{paper}}/{{experiment}}/{{arm}}/seed{{seed}}.tsv"
    conda:
        "../envs/logitrepro.yaml"
    threads: RES["threads"]
    resources:
        mem_mb=RES["mem_mb"],
        runtime=RES["runtime"],
        gpu=RES["gpus"],
    params:
        spec=job_spec,
        data_checksum=data_checksum,
        run_dir=lambda wc, output: os.path.dirname(output[0]),
        config=CONFIG_FILE,
    shell:
        "python -m logitrepro train --config {params.config:q} --paper {wildcards.paper} "
        "--experiment {wildcards.experiment} --arm {wildcards.arm} --seed {wildcards.seed} "
        "--run-dir {params.run_dir:q} --threads {threads} > {log:q} 2>&1"
