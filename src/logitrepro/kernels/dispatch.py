"""Backend selection for the logit-layer kernels.

One setting decides where an op runs:

    LOGITREPRO_KERNEL_BACKEND = auto (default) | triton | reference

* ``auto``: CUDA tensors run the Triton kernels, CPU tensors run the plain
  PyTorch path (the reference, or a faster vectorised CPU path where the op has
  one).
* ``triton``: always run the Triton kernels.  On CPU tensors this needs the
  Triton interpreter, i.e. ``TRITON_INTERPRET=1`` in the environment before the
  kernels are first compiled (tests set it in ``tests/kernels/conftest.py``).
* ``reference``: always run ``<op>_ref``-style plain PyTorch (useful to rule
  the kernels out when debugging a training run).

The variable is read on every call, so it can be changed at run time; the
``use_backend`` context manager overrides it for a block of code.

Triton is imported lazily.  ``@lazy_jit`` keeps a kernel as a plain Python
function until its first launch and only then hands it to ``triton.jit``.  This
matters because ``triton.jit`` decides *at decoration time* whether to build an
interpreted kernel (it reads ``TRITON_INTERPRET`` then), so defining kernels at
import would freeze that choice as soon as anything imported this package.  It
also keeps ``import logitrepro.kernels`` and every CPU path working on machines
without Triton (e.g. macOS laptops).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator

import torch

ENV_VAR = "LOGITREPRO_KERNEL_BACKEND"
BACKENDS = ("auto", "triton", "reference")

_override: str | None = None
# None until the first kernel is materialised; then whether it was interpreted.
_materialized_interpreted: bool | None = None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def kernel_backend() -> str:
    """The backend setting in force now (override, else env var, else auto)."""
    name = _override if _override is not None else os.environ.get(ENV_VAR, "auto")
    name = name.strip().lower() or "auto"
    if name not in BACKENDS:
        raise ValueError(f"{ENV_VAR}={name!r} is not one of {BACKENDS}")
    return name


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Force a backend for the duration of a ``with`` block."""
    global _override
    if name not in BACKENDS:
        raise ValueError(f"backend {name!r} is not one of {BACKENDS}")
    previous, _override = _override, name
    try:
        yield
    finally:
        _override = previous


def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def interpreter_active() -> bool:
    """True when Triton kernels are (or will be) built for the interpreter."""
    if _materialized_interpreted is not None:
        return _materialized_interpreted
    return _truthy(os.environ.get("TRITON_INTERPRET"))


def use_triton(x: torch.Tensor) -> bool:
    """Decide, for an op whose main input is ``x``, whether to run Triton."""
    backend = kernel_backend()
    if backend == "reference":
        return False
    if backend == "auto":
        return x.is_cuda and triton_available()
    # backend == "triton": forced
    if not triton_available():
        raise RuntimeError(f"{ENV_VAR}=triton but the 'triton' package is not installed")
    if not x.is_cuda and not interpreter_active():
        raise RuntimeError(
            f"{ENV_VAR}=triton on CPU tensors needs the Triton interpreter: set "
            "TRITON_INTERPRET=1 in the environment before triton is imported / the "
            "first kernel is compiled (the kernel tests do this in "
            "tests/kernels/conftest.py), or use a CUDA tensor, or set "
            f"{ENV_VAR}=auto."
        )
    return True


def is_interpreter(x: torch.Tensor) -> bool:
    """Running Triton on CPU tensors means the interpreter: pick small blocks."""
    return not x.is_cuda


class LazyJit:
    """A kernel that becomes ``triton.jit(fn)`` at its first launch.

    On materialisation every ``LazyJit`` in the defining module is jitted and
    the module global is replaced by the real JIT function, so kernels that
    call ``@lazy_jit`` helpers see proper Triton functions at compile time.
    """

    def __init__(self, fn):
        self.fn = fn
        self.jitted = None
        self.__name__ = fn.__name__
        self.__doc__ = fn.__doc__

    def materialize(self):
        global _materialized_interpreted
        if self.jitted is None:
            import triton
            from triton import knobs

            interpreted = bool(knobs.runtime.interpret)
            if _materialized_interpreted is None:
                _materialized_interpreted = interpreted
            module_globals = self.fn.__globals__
            for name, value in list(module_globals.items()):
                if isinstance(value, LazyJit) and value.jitted is None:
                    value.jitted = triton.jit(value.fn)
                    module_globals[name] = value.jitted
        return self.jitted

    def __getitem__(self, grid):
        return self.materialize()[grid]

    def __call__(self, *args, **kwargs):  # only valid inside another kernel
        raise RuntimeError(f"{self.__name__} is a Triton kernel; launch it as kernel[grid](...)")


def lazy_jit(fn) -> LazyJit:
    return LazyJit(fn)


def next_power_of_2(n: int) -> int:
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


class _NoTritonLanguage:
    """Stand-in for ``triton.language`` when Triton is not installed.

    Kernel signatures use ``tl.constexpr`` annotations, evaluated at import;
    this keeps the modules importable (CPU paths work) without Triton.
    """

    constexpr = object

    def __getattr__(self, name):
        raise RuntimeError("triton is not installed; only the PyTorch paths are available")


def import_tl():
    """``triton.language`` if available (importing it does not compile anything)."""
    try:
        import triton.language as tl
    except ImportError:  # pragma: no cover - exercised only without triton
        return _NoTritonLanguage()
    return tl


def select_path(x: torch.Tensor) -> str:
    """ "triton", "fast" (the op's CPU path) or "reference" for input ``x``."""
    if use_triton(x):
        return "triton"
    return "reference" if kernel_backend() == "reference" else "fast"


def upcast(x: torch.Tensor) -> torch.Tensor:
    """fp16/bf16 -> fp32 for accumulation; fp32 and fp64 unchanged (gradcheck runs in fp64)."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()
