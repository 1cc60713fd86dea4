"""sscnb's errors and warnings, all in one catalogue (as rasterio keeps ``rasterio.errors``).

Every error that sscnb raises on purpose (bad input, a setting it cannot honour, results that would mix) is an
:class:`SscnbError`, and also the built-in exception it is a kind of (``DataError(SscnbError, ValueError)``,
as rasterio does), so ``except SscnbError`` catches all of them and ``except ValueError`` keeps working.
Every warning class is an :class:`SscnbWarning` (a :class:`UserWarning`). Each is also importable from
the module that raises it (``sscnb.data.DataError``), where it was defined before.
"""

from __future__ import annotations

__all__ = [
    "SscnbError",
    "SscnbWarning",
    "AdaptError",
    "AssessError",
    "BatchError",
    "ClassShrinkWarning",
    "DataError",
    "DataWarning",
    "InputShiftWarning",
    "LabelError",
    "ModelMismatchError",
    "NoTilesError",
    "OutputFolderError",
    "PretrainedUnavailableError",
    "ReportError",
    "ResultsConflictError",
    "RunError",
    "SchemeError",
    "SurveyError",
    "WeightsUnavailableError",
]


class SscnbError(Exception):
    """An error sscnb raised on purpose; its message names the file or setting and the fix."""


class SscnbWarning(UserWarning):
    """A warning sscnb gives on purpose (an image unlike the training images, a class that shrinks, data skipped).

    A :class:`UserWarning`, so ``warnings.simplefilter("ignore", UserWarning)`` still silences it.
    """


# raised by sscnb.adapt
class AdaptError(SscnbError, ValueError):
    """Fine-tuning cannot start; the message names the input and the fix."""


# raised by sscnb.batch
class BatchError(SscnbError, RuntimeError):
    """Some images of a batch failed; ``failures`` is ``{image: "ErrorType: message"}``."""

    def __init__(self, failures: dict, what: str = "image"):
        self.failures = dict(failures)
        lines = "\n".join(f"  - {k}: {v}" for k, v in self.failures.items())
        super().__init__(f"{len(self.failures)} {what}(s) failed (the others are done):\n{lines}")


# raised by sscnb.batch
class ResultsConflictError(SscnbError, ValueError):
    """Finished results of a batch were made with another model or other settings; ``conflicts`` names them.

    Raised before any item is computed, so two recipes' results never mix in one folder.
    """

    def __init__(self, conflicts: list, what: str, out_dir, experiment: str):
        self.conflicts = list(conflicts)
        lines = "\n".join(f"  - {c}" for c in self.conflicts)
        super().__init__(
            f"{len(self.conflicts)} {what}(s) in {out_dir} were finished with another model or other "
            f"settings for experiment {experiment!r}:\n{lines}\nPass overwrite=True (--overwrite) to redo "
            "them, or choose another experiment name or output folder."
        )


# raised by sscnb.data
class SchemeError(SscnbError, ValueError):
    """A class scheme (or its CSV file) is not usable."""


# raised by sscnb.cnn
class ModelMismatchError(SscnbError, ValueError):
    """A saved model, its class key and its model card do not belong together."""


# raised by sscnb.cnn
class WeightsUnavailableError(SscnbError, RuntimeError):
    """Pretrained weights were asked for but cannot be had."""


# raised by sscnb.data
class DataError(SscnbError, ValueError):
    """A data file or folder cannot be used; the message names the file and the fix."""


# raised by sscnb.data
class DataWarning(SscnbWarning):
    """A data file is usable after a fix sscnb made itself (the message says which)."""


# raised by sscnb.cnn
class PretrainedUnavailableError(SscnbError, RuntimeError):
    """The ImageNet weights of a backbone were asked for but cannot be had."""


# raised by sscnb.maps
class SurveyError(SscnbError, ValueError):
    """A survey input (or output folder) cannot be used; the message names the file and the fix."""


# raised by sscnb.cnn
class InputShiftWarning(SscnbWarning):
    """An input image is far outside the brightness or colour of the CNN's training images."""


# raised by sscnb.layout
class OutputFolderError(SscnbError, OSError):
    """An output folder cannot be made or written; the message names it and the fix."""


# raised by sscnb.report
class ReportError(SscnbError, ValueError):
    """Results cannot be compiled; the message names the file or folder."""


# raised by sscnb.batch
class RunError(SscnbError, RuntimeError):
    """A notebook of the suite failed, or the run cannot start."""


# raised by sscnb.assess
class AssessError(SscnbError, ValueError):
    """A sample, a map or a reference that cannot be assessed; the message names the file and the fix."""


# raised by sscnb.ssc
class ClassShrinkWarning(SscnbWarning):
    """A class of the CNN tile map shrinks by more than half, or vanishes, in the final map."""


# raised by sscnb.labels
class LabelError(SscnbError, ValueError):
    """Labels that cannot be used; the message names the file and the fix."""


# raised by sscnb.cnn
class NoTilesError(SscnbError, ValueError):
    """No tile is pure enough to train on."""
