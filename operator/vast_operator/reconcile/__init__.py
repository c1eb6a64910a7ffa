"""The managed-resource cycle per kind (observe, create, update, delete) and shared machinery."""
