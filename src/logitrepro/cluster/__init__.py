"""A one-node cluster on this machine, to run the pipeline the way a cluster user does.

`python -m logitrepro.cluster start` starts SLURM with accounting (munge, MariaDB, slurmdbd,
slurmctld, slurmd) and an MLflow tracking server on PostgreSQL, every service on loopback, its
files in one state folder (LOGITREPRO_CLUSTER_DIR, by default /tmp/logitrepro-cluster);
`stop` stops them and whatever they started. `make test-cluster` runs the smoke pipeline
through `workflow/profiles/slurm` on it (tests/cluster). docs/cluster.md tells the rest.
"""
