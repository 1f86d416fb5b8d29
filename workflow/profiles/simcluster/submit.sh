#!/usr/bin/env bash
# Usage (by Snakemake): submit.sh MEM_MB THREADS JOBSCRIPT
# Starts the job script detached in its own session and prints a job id (the pid),
# like sbatch --parsable. Its exit code lands in .snakemake/simcluster/<pid>.rc.
set -euo pipefail
mem_mb=$1 threads=$2 jobscript=$3
state=.snakemake/simcluster
mkdir -p "$state"
setsid bash -c '"$0" > "$1/$$.log" 2>&1; echo $? > "$1/$$.rc"' "$jobscript" "$state" < /dev/null > /dev/null 2>&1 &
echo $!
