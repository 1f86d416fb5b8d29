"""The optional dependencies (pyproject's extras) and the jobs that need them.

The core install runs every experiment of the smoke and cpu scales. A few experiments of the
paper scale need more (MuJoCo for SSO's imitation on Hopper); a job that needs an extra that is
not installed stops before it trains, naming the extra and the line that installs it, rather than
with an ImportError from deep inside gymnasium.
"""

from __future__ import annotations

import importlib.util

# extra name -> the modules it provides (as imported) and what needs them
EXTRAS = {
    "mujoco": {
        "modules": ("mujoco", "imageio"),
        "needed_by": "SSO's online imitation on MuJoCo (paper scale)",
    },
}

# where gymnasium keeps the environments of each extra (its registry's entry points)
_GYM_ENTRY_POINTS = {"gymnasium.envs.mujoco": "mujoco"}


class MissingExtra(RuntimeError):
    """A job needs an optional dependency that is not installed."""


def missing_modules(extra: str) -> list[str]:
    """The modules of `extra` that this environment cannot import."""
    return [m for m in EXTRAS[extra]["modules"] if importlib.util.find_spec(m) is None]


def install_line(extra: str) -> str:
    return f"pip install -c constraints.txt -e '.[{extra}]'"


def require(extra: str, what: str) -> None:
    """Raise MissingExtra, naming the extra and how to install it, if any of its modules is missing."""
    missing = missing_modules(extra)
    if missing:
        raise MissingExtra(
            f"{what} needs the optional dependencies '{extra}' ({EXTRAS[extra]['needed_by']}); "
            f"not installed: {', '.join(missing)}. Install them with: {install_line(extra)}"
        )


def extra_of_gym_env(env_id: str) -> str | None:
    """The extra a gymnasium environment needs, from its registered entry point (read without
    importing the environment, which is what fails when the extra is missing)."""
    try:
        import gymnasium
    except ImportError:  # a core dependency: the task itself says so
        return None
    try:
        entry_point = gymnasium.spec(env_id).entry_point
    except gymnasium.error.Error:  # not registered: the task's own check names the known ones
        return None
    if not isinstance(entry_point, str):
        return None
    return next((extra for prefix, extra in _GYM_ENTRY_POINTS.items() if entry_point.startswith(prefix)), None)


def extras_of_job(spec: dict) -> list[str]:
    """The extras a training job (Config.job_spec) needs."""
    env = spec.get("hparams", {}).get("env")
    extra = extra_of_gym_env(env) if isinstance(env, str) else None
    return [extra] if extra else []


def require_for_job(spec: dict) -> None:
    name = f"{spec['paper']}/{spec['experiment']}/{spec['arm']}"
    for extra in extras_of_job(spec):
        require(extra, name)
