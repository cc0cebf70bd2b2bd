"""The package version, importable without NumPy (``cecli --version`` stays fast)."""

__version__ = "0.1.0"
