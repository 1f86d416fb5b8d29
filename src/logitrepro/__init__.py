"""logitrepro: re-run papers about the logit layer and judge their claims."""

__version__ = "0.1.0"
