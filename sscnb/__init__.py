"""sscnb: CNN-supervised classification of river imagery (helper package of the notebook suite)."""

__version__ = "0.3.0"
