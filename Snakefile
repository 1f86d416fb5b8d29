# logitrepro: re-run papers about the logit layer and judge their claims.
#   snakemake --cores all                         default cpu scale
#   snakemake --cores all --config scale=smoke    seconds per job
#   snakemake --profile workflow/profiles/slurm --config scale=paper
from snakemake.utils import min_version

min_version("9.0")


configfile: "configs/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),


# Results put in order and the jobs' config file written, only now that jobs will run (not
# in a dry run) and under Snakemake's lock (logitrepro.pipeline). Snakemake's default job rate
# limit re-selects jobs in ever more timer threads while jobs wait for cores
# (logitrepro.pipeline.lift_default_job_rate_limit); a limit you set stays.
onstart:
    start_jobs()
    lift_default_job_rate_limit(workflow)


onsuccess:
    record_usage(f"{RESULTS}/benchmarks/snakemake.jsonl")
    # after the usage record: not a job, so not in the split; no shell, so no value to quote
    show_claims(PYTHON, f"{RESULTS}/claims")
