#!/usr/bin/env bash
# Usage (by Snakemake): status.sh JOBID -> running | success | failed
state=.snakemake/simcluster
jobid=$1
if [ -f "$state/$jobid.rc" ]; then
  [ "$(cat "$state/$jobid.rc")" = 0 ] && echo success || echo failed
elif kill -0 "$jobid" 2>/dev/null; then
  echo running
else
  echo failed
fi
