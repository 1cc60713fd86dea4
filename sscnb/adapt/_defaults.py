"""Fine-tuning's defaults, in a module that imports nothing: ``sscnb adapt --help`` shows them without loading the method."""

__all__ = ["DEFAULT_EPOCHS", "DEFAULT_REPLAY", "DEFAULT_LEARNING_RATE", "ADAPT_COLOUR_DEFAULT"]

#: passes over the new tiles (with the replayed ones)
DEFAULT_EPOCHS = 10
#: a share of the parent's own training tiles replayed beside the new ones, so that it does not forget its river
DEFAULT_REPLAY = 0.2
#: the optimiser's learning rate while fine-tuning
DEFAULT_LEARNING_RATE = 5e-4
#: colour augmentation while fine-tuning
ADAPT_COLOUR_DEFAULT = True
