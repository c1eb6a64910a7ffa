"""VastEndpoint: the adapter (`adapter.py`), workergroup sync, pure rules."""

from .adapter import EndpointAdapter

__all__ = ["EndpointAdapter"]
