"""Phase-1 CNN: class key, splits, epoch rule, backbones, BatchNorm fix, weights errors, save/load."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from conftest import SAMPLE
from sscnb.cnn import _classkey as classkey
from sscnb.cnn import _files as modelfiles
from sscnb.cnn import _model as cnn
from sscnb.cnn import _predict as predict
from sscnb.cnn import _tilesets as tilesets
from sscnb.cnn import _tuning as tuning
from sscnb.data._classes import DEFAULT_CLASSES
from sscnb.data._pairs import find_pairs


def _tileset(y, river, image=None, t=10):
    n = len(y)
    x = np.random.default_rng(0).integers(0, 255, (n, t, t, 3), dtype=np.uint8)
    image = image if image is not None else [f"{r}_{i % 3:04d}" for i, r in enumerate(river)]
    return tilesets.TileSet(x, np.array(y), np.array(river, dtype=object), np.array(image, dtype=object), t, 0.9)


@pytest.fixture(scope="module")
def sample_tiles():
    return tilesets.collect_tiles(find_pairs(SAMPLE / "Train"), DEFAULT_CLASSES, 50, 0.9, progress=False)


def test_class_key_local_and_shared():
    ts = _tileset([1, 3, 1, 2, 3], ["A", "A", "B", "B", "B"])
    key = classkey.make_class_key(ts, DEFAULT_CLASSES, local_classes=True)
    t = key.table
    assert list(t.columns) == ["LocalClass", "HierarchClass", "River", "ClassName"]
    assert list(zip(t.River, t.HierarchClass, strict=True)) == [("A", 1), ("A", 3), ("B", 1), ("B", 2), ("B", 3)]
    assert list(key.encode(ts.y, ts.river)) == [0, 1, 2, 3, 4]
    assert key.rivers == ["A", "B"]
    assert key.local_classes
    proba = np.array([[0.1, 0.2, 0.3, 0.1, 0.3]])
    codes, p = key.to_hierarchical(proba)
    assert list(codes) == [1, 2, 3]
    np.testing.assert_allclose(p, [[0.4, 0.1, 0.5]])  # water A + water B, sediment B, veg A + veg B
    shared = classkey.make_class_key(ts, DEFAULT_CLASSES, local_classes=False)
    assert list(shared.table.HierarchClass) == [1, 2, 3]
    assert set(shared.table.River) == {"*"}
    assert list(shared.encode(ts.y, ts.river)) == [0, 2, 0, 1, 2]


def test_class_key_csv_round_trip(tmp_path):
    key = classkey.make_class_key(_tileset([1, 2], ["A", "B"]), DEFAULT_CLASSES)
    p = key.to_csv(tmp_path / "k.csv")
    back = classkey.ClassKey.from_csv(p)
    assert back.digest() == key.digest()
    pd.DataFrame({"a": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(modelfiles.ModelMismatchError, match="bad.csv is not a class key"):
        classkey.ClassKey.from_csv(tmp_path / "bad.csv")


def test_split_stratified_and_by_image():
    y = [1] * 50 + [2] * 10 + [3] * 2
    ts = _tileset(y, ["A"] * 62, image=[f"A_{i % 6:04d}" for i in range(62)])
    tr, va = tilesets.split_indices(ts, 0.2, seed=1)
    assert len(np.intersect1d(tr, va)) == 0
    assert len(tr) + len(va) == 62
    assert (ts.y[va] == 1).sum() == 10
    assert (ts.y[va] == 2).sum() == 2
    assert (ts.y[va] == 3).sum() == 1
    tr, va = tilesets.split_indices(ts, 0.34, seed=1, by="image")
    assert not set(ts.image[tr]) & set(ts.image[va])
    assert len(set(ts.image[va])) == 2
    tr, va = tilesets.split_indices(ts, 0.0)
    assert len(va) == 0
    assert len(tr) == 62


def test_recommend_epochs_hand_cases():
    h = pd.DataFrame(
        {"epoch": [1, 2, 3, 4, 5, 6], "loss": [1.0, 0.6, 0.4, 0.3, 0.2, 0.1], "val_loss": [1.0, 0.5, 0.22, 0.2, 0.25, 0.3]}
    )
    r = cnn.recommend_epochs(h)
    # min 0.2 at epoch 4; threshold 0.2 + 0.05 * 0.8 = 0.24 -> epoch 3 (0.22)
    assert r["best_epoch"] == 4
    assert r["recommended_epochs"] == 3
    assert r["min_val_loss"] == 0.2
    assert r["diverges_from"] == 4  # gap grows from epoch 4 on: -0.1, 0.05, 0.2
    still = pd.DataFrame({"epoch": [1, 2, 3], "loss": [1, 0.5, 0.2], "val_loss": [1, 0.6, 0.3]})
    assert cnn.recommend_epochs(still)["recommended_epochs"] == 3
    noval = pd.DataFrame({"epoch": [1, 2], "loss": [1, 0.5]})
    assert cnn.recommend_epochs(noval)["recommended_epochs"] == 2
    # notebook 01 says one thing: a recommendation, or that the run was too short
    text = tuning.epochs_advice(r, 6)
    assert text.startswith("Recommended epochs: 3")
    assert "lowest at epoch 4." in text
    assert "From epoch 4" in text
    assert "more epochs" not in text
    short = tuning.epochs_advice(cnn.recommend_epochs(still), 3)
    assert "still falling" in short
    assert "Recommended" not in short
    assert "all 2 epochs" in tuning.epochs_advice(cnn.recommend_epochs(noval), 2)


def test_resolve_epochs(tmp_path):
    assert tuning.resolve_epochs(7, tmp_path) == (7, "given")
    with pytest.raises(FileNotFoundError, match="run 01_cnn_tuning.ipynb"):
        tuning.resolve_epochs("auto", tmp_path)
    tuning.write_recommendation(tmp_path, {"recommended_epochs": 5})
    assert tuning.resolve_epochs("auto", tmp_path)[0] == 5


def test_no_pure_tiles_error(tmp_path, make_pair):
    lab = np.zeros((60, 60), np.uint8)
    lab[:, :30] = 1
    lab[:, 30:] = 3  # every 50 px tile is half and half
    make_pair("River_0001.png", image=np.zeros((60, 60, 3), np.uint8), label=lab)
    with pytest.raises(tilesets.NoTilesError, match="no tile of 50 x 50 px is at least 90% one class"):
        tilesets.collect_tiles(find_pairs(tmp_path), DEFAULT_CLASSES, 50, 0.9, progress=False)


@pytest.mark.slow
def test_bn_momentum_set_for_every_backbone_from_scratch():
    import keras

    nasnet = ("nasnet_mobile",) if keras.backend.backend() != "torch" else ()  # none on PyTorch (test below)
    for bb in ("compact", *nasnet):
        m = cnn.build_model(bb, 3, 50)
        bns = [l for l in cnn._all_layers(m) if isinstance(l, keras.layers.BatchNormalization)]
        assert bns, bb
        assert all(l.momentum == pytest.approx(0.9) for l in bns), bb


def test_imagenet_unavailable_says_how_to_fix(tmp_path, monkeypatch):
    import keras
    import keras.src.utils.file_utils as fu

    if keras.backend.backend() == "torch":
        pytest.skip("Keras offers no NASNet on PyTorch (its error is tested below)")

    def no_network(*a, **k):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(fu, "get_file", no_network)
    with pytest.raises(cnn.WeightsUnavailableError) as e:
        cnn.build_model("nasnet_mobile", 3, 50, weights="imagenet")
    msg = str(e.value)
    assert "NASNet-mobile-no-top.h5" in msg
    assert str(tmp_path) in msg
    assert "weights=" in msg
    assert "never falls back" in msg
    with pytest.raises(cnn.WeightsUnavailableError, match="does not exist"):
        cnn.build_model("nasnet_mobile", 3, 50, weights=str(tmp_path / "nope.h5"))
    with pytest.raises(cnn.WeightsUnavailableError, match="no ImageNet weights"):
        cnn.build_model("compact", 3, 50, weights="imagenet")


def _two_class(sample_tiles, n=150):
    idx = np.concatenate([np.flatnonzero(sample_tiles.y == c)[:n] for c in (1, 3)])
    return sample_tiles.subset(idx)


@pytest.mark.slow
@pytest.mark.parametrize(("backbone", "epochs"), [("compact", 4)])
def test_validation_accuracy_tracks_training_accuracy(sample_tiles, backbone, epochs):
    """The BatchNorm trap: with slow running statistics, inference-mode accuracy collapses.

    (NASNet is checked by test_bn_momentum_set_for_every_backbone_from_scratch and by
    benchmarks/cnn_benchmark.py --stmarg --backbone nasnet_mobile: tracing it alone takes
    ~100 s on 2 cores, too long for the test suite.)
    """
    ts = _two_class(sample_tiles, 150)
    key = classkey.make_class_key(ts, DEFAULT_CLASSES, local_classes=False)
    y = key.encode(ts.y, ts.river)
    tr, va = tilesets.split_indices(ts, 0.25, seed=0)
    m = cnn.build_model(backbone, key.n_outputs, 50, seed=0)
    # >= 40 steps: BatchNorm running statistics (momentum 0.9) have settled to within 2%
    h = cnn.train(m, ts.x[tr], y[tr], val=(ts.x[va], y[va]), epochs=epochs, batch_size=16, seed=0, progress=False)
    train_acc, val_acc = h["accuracy"].iloc[-1], h["val_accuracy"].iloc[-1]
    assert train_acc > 0.8
    assert val_acc >= 0.8, h
    assert val_acc >= train_acc - 0.15, h


@pytest.mark.slow
@pytest.mark.slow  # trains a CNN
def test_save_load_round_trip_and_mismatches(tmp_path, sample_tiles):
    ts = _two_class(sample_tiles, 40)
    key = classkey.make_class_key(ts, DEFAULT_CLASSES)
    y = key.encode(ts.y, ts.river)
    m = cnn.build_model("compact", key.n_outputs, 50, seed=1)
    h = cnn.train(m, ts.x, y, epochs=1, batch_size=32, progress=False)
    card = modelfiles.make_card(
        backbone="compact", weights=None, tile_size=50, purity=0.9, scheme=DEFAULT_CLASSES, tiles=ts, epochs=1, seed=1, history=h
    )
    paths = modelfiles.save_model(tmp_path / "model", "demo", m, key, card)
    assert {p.name for p in (tmp_path / "model").iterdir()} == {"demo.keras", "demo_classkey.csv", "demo_card.json"}
    c = json.loads(paths["card"].read_text())
    for k in (
        "backbone",
        "tile_size",
        "purity",
        "class_scheme",
        "rivers",
        "tiles_per_class",
        "epochs",
        "final_metrics",
        "versions",
        "date",
        "seed",
    ):
        assert k in c, k
    assert c["rivers"] == ["Clearwater", "Muddyford"]
    saved = modelfiles.load_model(tmp_path / "model")
    np.testing.assert_allclose(cnn.predict_tiles(saved.model, ts.x[:20]), cnn.predict_tiles(m, ts.x[:20]), atol=1e-5)
    codes, _, _ = modelfiles.predict_codes(saved, None, ts.x[:20])
    assert set(codes) <= {1, 3}
    with pytest.raises(FileExistsError, match="demo.keras exists"):
        modelfiles.save_model(tmp_path / "model", "demo", m, key, card)
    # a class key that is not the one saved with the model
    other = classkey.make_class_key(ts, DEFAULT_CLASSES, local_classes=False)
    other.to_csv(paths["class_key"])
    with pytest.raises(modelfiles.ModelMismatchError, match="not the class key demo.keras was saved with"):
        modelfiles.load_model(paths["model"])
    paths["class_key"].unlink()
    with pytest.raises(modelfiles.ModelMismatchError, match="no class key beside demo.keras"):
        modelfiles.load_model(paths["model"])
    # legacy .h5 with a class key of the wrong size
    m.save(tmp_path / "old.h5")
    other.to_csv(tmp_path / "old_ClassKey.csv")
    with pytest.raises(modelfiles.ModelMismatchError, match=f"old.h5 has {key.n_outputs} outputs but old_ClassKey.csv lists 2"):
        modelfiles.load_model(tmp_path / "old.h5")
    key.to_csv(tmp_path / "old_ClassKey.csv")
    legacy = modelfiles.load_model(tmp_path / "old.h5")
    assert legacy.card["legacy"]
    assert legacy.tile_size == 50


@pytest.mark.slow
def test_damaged_model_files_name_the_file_and_the_fix(tmp_path, sample_tiles):
    import shutil

    ts = _two_class(sample_tiles, 40)
    key = classkey.make_class_key(ts, DEFAULT_CLASSES)
    m = cnn.build_model("compact", key.n_outputs, 50, seed=1)
    card = modelfiles.make_card(
        backbone="compact", weights=None, tile_size=50, purity=0.9, scheme=DEFAULT_CLASSES, tiles=ts, epochs=1, seed=1
    )
    good = modelfiles.save_model(tmp_path / "good", "demo", m, key, card)

    def copy(name):
        d = tmp_path / name
        shutil.copytree(tmp_path / "good", d)
        return {k: d / p.name for k, p in good.items()}

    cut = copy("cut_card")
    cut["card"].write_text(cut["card"].read_text()[:40])
    with pytest.raises(modelfiles.ModelMismatchError, match=r"model card .*demo_card\.json is not valid JSON.*cut short"):
        modelfiles.load_model(cut["model"])
    trunc = copy("cut_model")
    trunc["model"].write_bytes(trunc["model"].read_bytes()[:2000])
    with pytest.raises(modelfiles.ModelMismatchError, match=r"Keras cannot read .*demo\.keras \(2,000 bytes.*damaged"):
        modelfiles.load_model(trunc["model"])
    nocard = copy("no_card")
    nocard["card"].unlink()
    with pytest.raises(modelfiles.ModelMismatchError, match=r"no model card demo_card\.json beside .*Copy it"):
        modelfiles.load_model(nocard["model"])


def test_prediction_in_fixed_shape_batches_equals_one_batch(monkeypatch):
    """The last batch is padded to the batch size (one compiled shape for every strip of a survey):
    the probabilities are those of predicting each tile on its own.
    """
    import keras

    inp = keras.Input((8, 8, 3))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(inp))
    m = keras.Model(inp, out)
    x = np.random.default_rng(0).integers(0, 255, (37, 8, 8, 3)).astype(np.uint8)
    want = keras.ops.convert_to_numpy(m(x.astype(np.float32), training=False))
    seen = []
    real_predict, real_on_batch = m.predict, m.predict_on_batch

    def counted(xx, batch_size, verbose):
        seen.append(("predict", len(xx), xx.dtype))
        return real_predict(xx, batch_size=batch_size, verbose=0)

    def counted_batch(xx):
        seen.append(("batch", len(xx), xx.dtype))
        return real_on_batch(xx)

    monkeypatch.setattr(m, "predict", counted)
    monkeypatch.setattr(m, "predict_on_batch", counted_batch)
    by_path = {}
    for device in (None, "gpu"):  # the CPU's batch by batch calls, and an accelerator's one call
        monkeypatch.setattr(predict, "accelerator", lambda device=device: device)
        for b in (1, 5, 16, 37, 64):
            got = cnn.predict_tiles(m, x, batch_size=b)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
            by_path.setdefault(b, []).append(got)
        seen.clear()
        cnn.predict_tiles(m, x, batch_size=16)
        cnn.predict_tiles(m, x[:5], batch_size=16)
        # padded to whole batches, passed as uint8 (the model rescales)
        if device is None:
            assert seen == [("batch", 16, np.uint8)] * 4
        else:
            assert seen == [("predict", 48, np.uint8), ("predict", 16, np.uint8)]
    for b, (on_cpu, on_device) in by_path.items():
        np.testing.assert_array_equal(on_cpu, on_device, err_msg=f"batch {b}: the two paths differ")
    monkeypatch.undo()
    monkeypatch.setenv("SSCNB_PREDICT_BATCH", "12")
    assert cnn.predict_batch_size() == 12
    monkeypatch.setenv("SSCNB_PREDICT_BATCH", "many")
    with pytest.raises(ValueError, match="SSCNB_PREDICT_BATCH must be a whole number"):
        cnn.predict_batch_size()
    monkeypatch.delenv("SSCNB_PREDICT_BATCH")
    if cnn.accelerator() is None:  # by the size the network's layers see (compact 50 px, rivers 112 px)
        assert (cnn.predict_batch_size(), cnn.predict_batch_size(112), cnn.predict_batch_size(1000)) == (200, 40, 1)
    else:
        assert cnn.predict_batch_size(112) == 512
    assert cnn.accelerator() in (None, "gpu", "tpu")


@pytest.mark.slow  # starts a process that imports the backend
def test_the_backend_starts_without_native_noise_on_stderr():
    """Importing Keras through sscnb (a fresh process): absl's notice, INFO lines and the CUDA probe of
    a machine without a GPU are filtered out; other lines pass.
    """
    import subprocess
    import sys

    code = "from sscnb.cnn._keras import _keras; _keras(); import os; os.write(2, b'E0000 a real error\\n')"
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300).stderr
    for noise in ("absl::InitializeLog", "I0000", "cuInit"):
        assert noise not in err, err
    assert "E0000 a real error" in err
    assert cnn.quiet_native_start("W0000 x\nE0001 y.cc] failed call to cuInit: no\nkeep me\n") == "keep me\n"


def test_backend_settings_fill_in_only_what_the_user_left_unset(monkeypatch, tmp_path):
    """GPU memory on demand and JAX's compile cache by default; a user's own setting always wins."""
    from sscnb.cnn import _keras as _keras

    monkeypatch.setattr(os, "environ", {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "c")})
    assert _keras.backend_settings() == {
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "c" / "sscnb" / "jax"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    assert _keras.backend_settings() == {}  # set once; the second call finds them all set
    user = {"XLA_PYTHON_CLIENT_PREALLOCATE": "true", "SSCNB_JAX_CACHE": str(tmp_path / "mine")}
    monkeypatch.setattr(os, "environ", dict(user))
    done = _keras.backend_settings()
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "true"
    assert "XLA_PYTHON_CLIENT_PREALLOCATE" not in done
    assert done["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "mine")
    monkeypatch.setattr(os, "environ", {"SSCNB_JAX_CACHE": "off", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "2"})
    assert _keras.backend_settings() == {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    assert "JAX_COMPILATION_CACHE_DIR" not in os.environ
    assert os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "2"


def test_a_backbone_keras_refuses_on_pytorch_names_the_setting_and_what_to_do(monkeypatch):
    """Keras 3 offers no NASNet on PyTorch: the error names the backbone setting and the ways out."""
    import keras

    def refused(**kw):
        raise ValueError("NASNetMobile is not available with the torch backend at this time")

    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    monkeypatch.setattr(keras.applications, "NASNetMobile", refused)
    with pytest.raises(ValueError, match=r"backbone 'nasnet_mobile' does not run on Keras's PyTorch backend") as e:
        cnn.build_model("nasnet_mobile", 3, 50)
    assert "backbone: compact" in str(e.value)
    assert "KERAS_BACKEND=tensorflow" in str(e.value)
    assert "not available with the torch backend" in str(e.value)  # Keras's own words, kept


def test_tta_averages_the_eight_orientations_of_each_tile():
    import keras

    rng = np.random.default_rng(3)
    inp = keras.Input((4, 4, 3))
    out = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inp))
    m = keras.Model(inp, out)  # not invariant to rotation: each orientation gets other probabilities
    m.set_weights([rng.normal(0, 0.05, (48, 3)).astype("float32"), np.zeros(3, "float32")])
    x = rng.integers(0, 255, (5, 4, 4, 3)).astype(np.uint8)
    t = np.swapaxes(x, 1, 2)  # the transpose
    views = [x, x[:, ::-1], x[:, :, ::-1], x[:, ::-1, ::-1], t, t[:, ::-1], t[:, :, ::-1], t[:, ::-1, ::-1]]
    want = np.mean([cnn.predict_tiles(m, v) for v in views], axis=0)  # the dihedral group, written out
    assert not np.allclose(cnn.predict_tiles(m, x), want, atol=1e-3)
    np.testing.assert_allclose(cnn.predict_tiles(m, x, tta=True), want, atol=1e-6)
    np.testing.assert_allclose(cnn.predict_tiles(m, x, batch_size=2, tta=True), want, atol=1e-6)
