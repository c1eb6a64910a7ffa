"""The custom resources (spec and status models); CRD YAML is generated from them."""

from .common import API_VERSION, GROUP, VERSION

__all__ = ["API_VERSION", "GROUP", "VERSION"]
