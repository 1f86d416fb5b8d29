# One rule per training job (Config.train_groups): a job trains its runs one after the other in
# one process and evaluates each final checkpoint there, writing the run's metrics.json. A run
# interrupted mid-way resumes from its checkpoint when the job runs again.
for group in train_groups():

    rule:
        name:
            group.rule
        input:
            data=ancient(group_data(group)),
        output:
            [run_file(group, r, "metrics.json") for r in group.runs],
            [run_file(group, r, "train.json") for r in group.runs],
            # missing while a run's metrics.json or run.json cannot be read (logitrepro.repair)
            [touch(f) for f in REPAIRS.receipts(group.rule)],
        log:
            f"{RESULTS}/logs/train/{group.paper}/{group.experiment}/{group.name}.log",
        benchmark:
            group_benchmark(group)
        priority: group.priority
        conda:
            "../envs/logitrepro.yaml"
        threads: RES["threads"]
        resources:
            mem_mb=RES["mem_mb"],
            runtime=RES["runtime"] * len(group.runs),
            gpu=RES["gpus"],
        params:
            specs=group_specs(group),
            code=group_code(group),
            # shell: is evaluated when the job runs, so the group's names travel as params
            paper=group.paper,
            experiment=group.experiment,
            runs=[f"{arm}:{seed}" for arm, seed in group.runs],
            benchmark=group_benchmark(group),
        shell:
            'python -m logitrepro train --config "$LOGITREPRO_CONFIG" --paper {params.paper:q} '
            "--experiment {params.experiment:q} --runs {params.runs:q} --threads {threads:q} "
            "--benchmark {params.benchmark:q} > {log:q} 2>&1"
