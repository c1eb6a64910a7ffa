"""VastInstance: the adapter (`adapter.py`), renting, the running instance, pure rules."""

from .adapter import InstanceAdapter

__all__ = ["InstanceAdapter"]
