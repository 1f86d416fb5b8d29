"""Logit-layer ops: Triton kernels for CUDA, plain PyTorch for CPU.

Each op lives in its own module (kernels, launcher, autograd Function and a
``<op>_ref`` reference side by side).  Importing this package imports
``triton.language`` if it is installed but compiles nothing: kernels are
jitted at first launch (see ``dispatch.LazyJit``), so TRITON_INTERPRET and
LOGITREPRO_KERNEL_BACKEND may be set after this import.
"""

from .cross_entropy import cross_entropy, cross_entropy_ref
from .dispatch import BACKENDS, ENV_VAR, kernel_backend, use_backend
from .fourier_head import bin_centers, fourier_head_logpmf, fourier_head_logpmf_ref, fourier_regularizer
from .sliding_window_attention import (
    ls_attention,
    ls_attention_ref,
    max_attention_logit,
    max_attention_logits,
    sliding_window_attention,
    sliding_window_attention_ref,
)
from .softmax import softmax, softmax_ref
from .squared_hinge import squared_hinge_loss, squared_hinge_loss_ref
from .vq_logits import vq_code_log_weights, vq_logits_loss, vq_logits_loss_ref, vq_scatter_logits

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "kernel_backend",
    "use_backend",
    "squared_hinge_loss",
    "squared_hinge_loss_ref",
    "cross_entropy",
    "cross_entropy_ref",
    "softmax",
    "softmax_ref",
    "sliding_window_attention",
    "sliding_window_attention_ref",
    "ls_attention",
    "ls_attention_ref",
    "max_attention_logit",
    "max_attention_logits",
    "vq_logits_loss",
    "vq_logits_loss_ref",
    "vq_scatter_logits",
    "vq_code_log_weights",
    "fourier_head_logpmf",
    "fourier_head_logpmf_ref",
    "fourier_regularizer",
    "bin_centers",
]
