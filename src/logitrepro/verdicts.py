"""The four verdicts a claim can get, by name (logitrepro.claims.engine says what each means).

A leaf: the tables and the MLflow tracking read verdicts from claim records without importing the
engine that computes them.
"""

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
NOT_CHECKED = "not checked at this scale"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_CHECKED)
