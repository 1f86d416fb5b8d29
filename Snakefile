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


# Snakemake's default job rate limit re-selects jobs in ever more timer threads while jobs wait
# for cores (logitrepro.pipeline.lift_default_job_rate_limit); a limit you set stays.
onstart:
    lift_default_job_rate_limit(workflow)


onsuccess:
    record_usage(f"{RESULTS}/benchmarks/snakemake.jsonl")
    # after the usage record: not a job, so not in the split
    shell(
        "{COMMAND_USAGE_ENV}= {PYTHON} -m logitrepro show --claims-dir {RESULTS}/claims || true"
    )
