"""The assessment's defaults, in a module that imports nothing: ``sscnb assess --help`` shows them without loading it."""

__all__ = ["DEFAULT_MIN_PER_CLASS"]

#: Olofsson et al. suggest 50-100 points for each class, whatever its area
DEFAULT_MIN_PER_CLASS = 50
