"""sscnb: CNN-supervised classification of river imagery (helper package of the notebook suite)."""

__version__ = "0.1.0"
