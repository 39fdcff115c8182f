"""advisor: will this model run on this machine, how, and if not, what would make it run?

Python API: advisor.probe(), advisor.recommend(model, **options), advisor.check(model, **options).
"""

from typing import Any

from advisor.version import __version__

__all__ = ["__version__", "check", "probe", "recommend", "recommend_many"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import advisor` (and the CLI's start-up) stays cheap.
    if name in ("probe", "recommend", "check", "recommend_many"):
        from advisor import api

        return getattr(api, name)
    raise AttributeError(name)
