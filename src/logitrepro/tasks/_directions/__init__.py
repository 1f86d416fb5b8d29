"""Which way each task's metrics are better: one generated module per task (`python -m logitrepro
metric-directions`), read by logitrepro.metric_directions. Nothing here imports a task (torch)."""
