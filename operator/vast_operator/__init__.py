"""vast-operator: rent and run Vast.ai GPU capacity from Kubernetes objects."""

__version__ = "0.1.0"
