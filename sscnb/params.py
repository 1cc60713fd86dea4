"""The settings of the per-image pipeline (phase 2 and the tile rules): :class:`SSCParams`, their one home.

At the bottom of sscnb: every module that needs the settings (the pipeline :mod:`sscnb.ssc`, phase 2's
self-check :mod:`sscnb.phase2`, maps, batches, the run YAML, the command line) imports them from here,
and this imports nothing of sscnb's but the settings mixin and the feature sets' names.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sscnb.settings import Settings

__all__ = [
    "SSCParams",
    "PHASE2_CHOICES",
    "DEFAULT_PHASE2",
    "MLP_DEPTHS",
    "FEATURE_SETS",
    "LABEL_CNN_SHARE",
    "RF_SAMPLE",
    "MLP_RF_WEIGHT",
    "phase2_name",
]


PHASE2_CHOICES = {"mlp": "MLP", "rf": "RF", "mlp_rf": "MLPRF"}
#: phase2 "mlp_rf": the MLP's share of the averaged class probabilities, the forest's is the rest. Measured
#: over seeds 1-3 on stmarg/Validate (docs/phase2_measured.md): 0.5 kept dry sediment within 0.057, 0.35
#: within 0.038 at the MLP's weighted F1
MLP_RF_WEIGHT = 0.35
#: the default phase 2: over seeds its dry sediment moved 0.038 (seeds 1-3) where the MLP's moved 0.10-0.38, at the
#: MLP's weighted F1 (docs/phase2_measured.md); with the user's labels they choose the MLP's weight
DEFAULT_PHASE2 = "mlp_rf"
MLP_DEPTHS = ("deep", "very_deep", "compact")
#: the feature sets of phase 2 (setting ``features``): median RGB, median RGB and the multiscale bands, and those
#: with the CNN's view of each pixel (:mod:`sscnb.phase2._cnnbands`)
FEATURE_SETS = ("median_rgb", "multiscale", "multiscale_cnn")
#: ``label_cnn_share`` where it is not given, by feature set: with the CNN's bands, the user's labels alone
LABEL_CNN_SHARE = {"median_rgb": 0.5, "multiscale": 0.5, "multiscale_cnn": 0.0}
#: ``rf_sample`` where it is not given, by feature set: the forest of 27-35 bands grows each tree on a quarter of the
#: pixels, 3.6 times faster, as good on StMarg, 0.004 lower on a labelled Wildcat frame (docs/phase2_features.md)
RF_SAMPLE = {"median_rgb": 1.0, "multiscale": 0.25, "multiscale_cnn": 0.25}


def phase2_name(phase2: str) -> str:
    """Return the name of the final map in file names and tables.

    Parameters
    ----------
    phase2 : {"mlp", "rf", "mlp_rf"}

    Returns
    -------
    {"MLP", "RF", "MLPRF"}
    """
    return PHASE2_CHOICES[phase2]


@dataclass
class SSCParams(Settings):
    """Settings of the pipeline: the one place where each has its name and its default.

    The same names are used by the notebooks' parameters cells (03, 05), the run YAML and the
    command line.

    - recog_thresh: a tile whose top class probability is below it becomes unclassified (0 = off).
    - min_tiles: connected groups of fewer tiles of one class take the most common class around
      them (0 = off).
    - median_radius: radius (px) of the disk of the median filter on R, G and B.
    - use_entropy: add the 11 x 11 entropy band as a 4th feature.
    - features: "median_rgb" (the method's) or "multiscale": phase 2 also tries median RGB with
      smoothed intensity, edges, texture and saturation at 1, 2, 4, 8 and 16 px and smoothed hue
      at 2 and 8 px (:func:`sscnb.phase2.multiscale_features`), and the self-check keeps the better;
      "multiscale_cnn" adds to those bands the CNN's view of each pixel (8 principal components of
      its last hidden layer, interpolated between tile centres; :mod:`sscnb.phase2._cnnbands`).
    - phase2: the pixel classifier, "mlp_rf" (the default: a neural network and a random forest
      fitted on the same pixels, their class probabilities averaged, the MLP's weighing
      ``MLP_RF_WEIGHT``: the forest's steadiness over seeds at the MLP's accuracy, for 0.4 s more
      per 6 Mpx image; where the user labelled the image, their held-out labels choose the MLP's
      weight, 1 or 0 too),
      "mlp" (the neural network alone, the method's) or "rf" (the forest alone).
    - mlp_depth: "deep" (256-128-64-32-32), "very_deep", or "compact" (64-32-32: a tenth of the work per
      pixel, for the multiscale set, whose every pixel is predicted).
    - mlp_epochs, mlp_batch_size, mlp_learning_rate: training of the pixel MLP.
    - n_trees: trees of the random forest (50: on stmarg/Validate and the sample data over 3 seeds,
      150 gave the same F1, class by class within the seeds' spread, for 2-3 times the forest's time).
    - rf_min_leaf: training pixels each leaf of the forest must hold (scikit-learn's
      ``min_samples_leaf``). The tile map's classes are noisy (a tile's edge pixels are often
      another class), and a forest grown to single pixels learns that noise as speckle (measured:
      1 -> 20 took the sample data's validation images from F1 0.935 to 0.993 and StMarg's from
      0.9704 to 0.9712; docs/phase2_measured.md).
    - rf_sample: the share of phase 2's training pixels each tree of the forest draws (scikit-learn's
      ``max_samples``, with replacement). Default (None): 1.0 with ``features`` "median_rgb", 0.25
      with the multiscale sets, whose forest of 27-35 bands is the slowest part of phase 2 (6 Mpx
      on 2 cores: its fit 4.5 -> 1.25 s; StMarg's validation images as good, Wildcat Creek's
      labelled frame 4 0.004 lower over 3 seeds; :data:`RF_SAMPLE`). The settings record the number used.
    - subsample / min_sample / max_sample: share of the CNN-classified pixels used to train phase 2,
      with a floor and a cap (the cap matters for orthomosaics: 1% of 150 Mpx is far more pixels
      than three colour features need, and would cost minutes of training).
    - use_smote: balance the phase-2 training pixels with SMOTE-ENN.
    - min_class_sample: every class of the tile map gets at least this many phase-2 training pixels
      (or all of its pixels), on top of the sample: a rare class is never left with a handful.
    - phase2_sampling: "area" (each class in proportion to its pixels in the tile map) or "balanced"
      (the sample split equally among the classes).
    - smallest_element: patches of the final map smaller than this (px) take the class of the
      nearest larger patch (0 = off).
    - seed: random seed of the phase-2 sample and classifier.
    - train_confidence: tiles whose top class probability is below it do not train phase 2 (they
      stay in the CNN map; 0 = all tiles train).
    - phase2_check: phase 2 checks itself on held-out tiles before it replaces the tile map, which stays
      where phase 2 would do worse. In detail (:func:`choose_phase2`): a share ``check_fraction``
      of the confident tiles is held out, each candidate feature set (median RGB; with
      ``use_entropy`` also median RGB + entropy; with ``features`` "multiscale" also every band)
      is fitted on the rest, and the one that best reproduces the CNN's classes on the held-out tiles is used, unless even it
      gives the CNN's class to the majority of the pixels of less than ``min_agreement`` of those
      tiles: then the colours cannot carry the classes, and the CNN tile map is kept as the final map.
      Nor is phase 2 used when it gives nearly all held-out tiles of a class (more than 80%) to other classes.
    - check_fraction: share of the confident tiles held out to check phase 2.
    - min_agreement: share of the held-out tiles phase 2 must give the CNN's class (by pixel majority) to
      replace the tile map.
    - label_cnn_share: where the user labelled pixels of the image (tiles, polygons), phase 2 trains on
      them and on the confident tiles of the tile map away from them: this is the tile map's share
      of its training pixels (0 = the user's labels alone). The user's labels then judge phase 2
      (:func:`sscnb.phase2.choose_phase2`). Default (None): 0.5, but 0 with ``features``
      "multiscale_cnn", where the CNN's knowledge reaches phase 2 through its bands and its tile map
      would teach phase 2 to copy the CNN's errors (Wildcat Creek frame 3, 100 labelled tiles: 0.722
      with 0.5, 0.835 with 0; :data:`LABEL_CNN_SHARE`). The settings record the number used.
    - min_label_f1: where the CNN was fine-tuned on those labels (its score on them is in-sample),
      phase 2 is kept when its F1 on them, held out, reaches this (measured on Wildcat Creek:
      0.80-0.86 where phase 2 added 0.04-0.07 to the map, 0.75-0.78 where it would have cost 0.03-0.04),
      or reaches the CNN's in-sample F1 on them (0.787 against 0.766: phase 2 added 0.12).
    - tta: test-time augmentation of phase 1: the CNN's class probabilities of each tile are averaged
      over its 8 orientations (rotations by 90 degrees, each also mirrored); 8 times the CNN's work.
    - normalise: when an image's dark tones (water, shade) are outside those of the CNN's training
      images (recorded in the model card), gamma-correct the CNN's input to bring them to the
      training median (:func:`sscnb.cnn.normalising_gamma`); phase 2 still learns the
      image's own colours. An image far outside is reported either way (an
      :class:`sscnb.errors.InputShiftWarning` naming the image and the statistic).
    """

    KIND = "phase-2"

    recog_thresh: float = 0.0
    min_tiles: int = 0
    median_radius: int = 5
    use_entropy: bool = False
    features: str = "median_rgb"
    phase2: str = DEFAULT_PHASE2
    mlp_depth: str = "deep"
    mlp_epochs: int = 5
    mlp_batch_size: int = 1024
    mlp_learning_rate: float = 1e-3
    n_trees: int = 50
    rf_min_leaf: int = 20
    rf_sample: float | None = None
    subsample: float = 0.01
    min_sample: int = 20_000
    max_sample: int = 200_000
    use_smote: bool = False
    min_class_sample: int = 0
    phase2_sampling: str = "area"
    smallest_element: int = 0
    seed: int = 42
    train_confidence: float = 0.5
    phase2_check: bool = True
    check_fraction: float = 0.2
    min_agreement: float = 0.85
    label_cnn_share: float | None = None
    min_label_f1: float = 0.8
    tta: bool = False
    normalise: bool = True

    def __post_init__(self):
        if self.label_cnn_share is None:  # the default of the feature set, recorded as a number
            self.label_cnn_share = LABEL_CNN_SHARE.get(self.features, 0.5)
        if self.rf_sample is None:
            self.rf_sample = RF_SAMPLE.get(self.features, 1.0)
        if self.phase2 not in PHASE2_CHOICES:
            raise ValueError(f"phase2 must be one of {sorted(PHASE2_CHOICES)}, got {self.phase2!r}")
        if self.features not in FEATURE_SETS:
            raise ValueError(f"features must be one of {list(FEATURE_SETS)}, got {self.features!r}")
        if self.mlp_depth not in MLP_DEPTHS:
            raise ValueError(f"mlp_depth must be one of {list(MLP_DEPTHS)}, got {self.mlp_depth!r}")
        for f in fields(self):
            v = getattr(self, f.name)
            want = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}[str(f.type).removesuffix(" | None")]
            if not isinstance(v, want) or (f.type in ("int", "float") and isinstance(v, bool)):
                raise ValueError(f"{f.name} must be {f.type}, got {v!r}")
        if not 0 <= self.recog_thresh <= 1:
            raise ValueError(f"recog_thresh must be between 0 and 1, got {self.recog_thresh}")
        if not 0 < float(self.rf_sample) <= 1:
            raise ValueError(f"rf_sample must be above 0 and at most 1, got {self.rf_sample}")
        if not 0 <= float(self.label_cnn_share) < 1:
            raise ValueError(f"label_cnn_share must be at least 0 and below 1, got {self.label_cnn_share}")
        for name in ("train_confidence", "min_agreement", "min_label_f1"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        if not 0 < self.check_fraction < 1:
            raise ValueError(f"check_fraction must be between 0 and 1 (exclusive), got {self.check_fraction}")
        if not 0 < self.subsample <= 1:
            raise ValueError(f"subsample must be in (0, 1], got {self.subsample}")
        if self.phase2_sampling not in ("area", "balanced"):
            raise ValueError(f"phase2_sampling must be 'area' or 'balanced', got {self.phase2_sampling!r}")
        for name in ("min_tiles", "median_radius", "min_sample", "smallest_element", "min_class_sample"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_sample < self.min_sample:
            raise ValueError(f"max_sample ({self.max_sample}) must be >= min_sample ({self.min_sample})")
        for name in ("mlp_epochs", "mlp_batch_size", "n_trees", "rf_min_leaf"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def phase2_name(self) -> str:
        """Return the name of the final map (:func:`phase2_name` of the settings)."""
        return phase2_name(self.phase2)


#: a class that loses more than this share of its pixels from the tile map to the final map is reported
