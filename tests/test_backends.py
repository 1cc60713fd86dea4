"""sscnb on Keras's JAX backend gives what it gives on TensorFlow.

A GPU machine may have Keras on JAX and no TensorFlow; the suite has run there. Each backend runs
in its own process (Keras picks its backend once, at import): the same saved model (made here, on
TensorFlow) classifies an image and maps the sample orthomosaic, and a compact CNN is trained from
scratch, with flips, rotations and colour augmentation, saved and loaded again. On JAX the median
filter runs as on a GPU machine (``sscnb.phase2``, compiled by ``jax.jit``), on TensorFlow it
is the compiled CPU filter: the maps are the same.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import SAMPLE

pytestmark = pytest.mark.slow  # starts two Python processes, each loading its Keras backend

WORKER = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path

    import numpy as np
    import rasterio

    from sscnb import ssc
    from sscnb.cnn import _classkey as classkey
    from sscnb.cnn import _model as cnn
    from sscnb.maps import _batch as mapping
    from sscnb.cnn import _files as modelfiles
    from sscnb.cnn import _tilesets as tilesets
    from sscnb.data._classes import ClassScheme
    from sscnb.data._pairs import checked_pairs, read_pair

    out, model_path, sample = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    backend = cnn._keras().backend.backend()
    assert backend == os.environ["KERAS_BACKEND"], backend
    saved = modelfiles.load_model(model_path)
    record = [r for r in checked_pairs(sample / "Validate") if r.has_label][0]
    image, _ = read_pair(record, saved.scheme, saved.tile_size)
    p = ssc.SSCParams(phase2="rf", n_trees=10, min_sample=3000, min_agreement=0.0)
    res = ssc.classify_image(image, saved, p)
    m = mapping.map_inputs([sample / "Survey" / "Clearwater_ortho.tif"], saved, out / "map", "b", p,
                           window_mpx=0.05, progress=False, log=lambda *_: None)[0]
    with rasterio.open(m.files["final"]) as ds:
        survey = ds.read(1)
    np.savez(out / "result.npz", cnn=res.cnn_map, final=res.final_map, proba=res.cnn_proba, survey=survey)
    # a compact CNN from scratch: one epoch on 96 tiles, with every augmentation, saved and loaded
    scheme = ClassScheme.default()
    tiles = tilesets.collect_tiles(checked_pairs(sample / "Train"), scheme, 50, 0.9)
    idx = np.linspace(0, len(tiles.y) - 1, 96).astype(int)
    key = classkey.make_class_key(tiles, scheme)
    model = cnn.build_model("compact", key.n_outputs, 50, seed=1)
    colour = cnn.CNNParams(colour_augment=True).colour()
    hist = cnn.train(model, tiles.x[idx], key.encode(tiles.y, tiles.river)[idx], epochs=1, batch_size=32,
                     augment=True, seed=1, progress=False, colour=colour)
    card = modelfiles.make_card(backbone="compact", weights=None, tile_size=50, purity=0.9, scheme=scheme,
                                tiles=tiles.subset(idx), epochs=1, seed=1, history=hist, experiment="b")
    paths = modelfiles.save_model(out / "trained", "cnn", model, key, card)
    codes, proba, _ = modelfiles.predict_codes(modelfiles.load_model(paths["model"]), None, tiles.x[idx])
    (out / "trained.json").write_text(json.dumps({"loss": float(hist["loss"].iloc[-1]),
                                                  "codes": sorted(set(int(c) for c in codes)),
                                                  "proba_sums": [float(s) for s in proba.sum(axis=1)]}))
""")


def _run(backend, out, model_path):
    out.mkdir()
    # this process's own Keras (TensorFlow, for the model) has set JAX's variables (sscnb.cnn): not for the child
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_PYTHON"))}
    env.update(KERAS_BACKEND=backend, SSCNB_JAX_CACHE=str(out / "jax_cache"))
    # the GPU's filter (sscnb.phase2) on JAX's and PyTorch's CPU; TensorFlow keeps the CPU's
    env["SSCNB_MEDIAN"] = "cpu" if backend == "tensorflow" else "accelerator"
    r = subprocess.run(
        [sys.executable, "-c", WORKER, str(out), str(model_path), str(SAMPLE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, f"{backend}:\n{r.stderr[-3000:]}"
    return dict(np.load(out / "result.npz")), json.loads((out / "trained.json").read_text())


@pytest.fixture(scope="module")
def tensorflow_run(tmp_path_factory, colour_cnns):
    """The model (saved by TensorFlow's Keras) and what the worker gives on TensorFlow, made once."""
    tmp = tmp_path_factory.mktemp("tensorflow")
    model = colour_cnns(16)
    maps, trained = _run("tensorflow", tmp / "tf", model.path)
    assert not (tmp / "tf" / "jax_cache").exists()
    return model.path, maps, trained


# PyTorch is not among the test extras (its wheel for Linux is a CUDA build of several GB): this runs where
# it is installed (pip install torch; on a machine without a GPU, its CPU build)
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_map_and_train_as_tensorflow_does(tmp_path, tensorflow_run, backend):
    pytest.importorskip(backend, reason=f"Keras on {backend} needs it installed (pip install {backend})")
    model_path, tf_maps, tf_trained = tensorflow_run
    maps, trained = _run(backend, tmp_path / backend, model_path)
    cache = tmp_path / backend / "jax_cache"
    assert (cache.exists() and any(cache.iterdir())) == (backend == "jax")  # JAX kept what XLA compiled (sscnb.cnn)
    for k in ("cnn", "final", "survey"):
        np.testing.assert_array_equal(maps[k], tf_maps[k], err_msg=k)
    np.testing.assert_allclose(maps["proba"], tf_maps["proba"], atol=1e-5)
    assert len(set(np.unique(tf_maps["survey"])) - {0}) == 3  # the survey's three classes
    for t in (tf_trained, trained):
        assert np.isfinite(t["loss"])
        assert set(t["codes"]) <= {1, 2, 3, 4, 5}
        np.testing.assert_allclose(t["proba_sums"], 1, atol=1e-4)


CACHED = textwrap.dedent("""
    import json, logging, os
    import numpy as np
    from sscnb.phase2 import _pixel as pixel
    from sscnb.cnn._keras import _keras

    said = []  # JAX's own record of each persistent-cache hit and miss
    handler = logging.Handler()
    handler.emit = lambda r: said.append(r.getMessage())
    log = logging.getLogger("jax._src.compiler")
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    keras = _keras()
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 3)), rng.integers(1, 4, 300)
    clf = pixel.fit_pixel_classifier(x, y, "mlp", depth="deep", epochs=2, learning_rate=1e-3, batch_size=64,
                                     use_smote=False, n_trees=1, min_leaf=1, rf_sample=1.0, seed=3)
    np.save(os.environ["OUT"], clf.predict_proba_rows(x))
    print(json.dumps({w: sum(f"compilation cache {w}" in m.lower() for m in said) for w in ("hit", "miss")}))
""")


def test_a_second_jax_process_reads_its_compilations_from_the_cache(tmp_path):
    """The pixel MLP built and trained in two processes: the second compiles nothing new, same result."""
    pytest.importorskip("jax", reason="Keras on JAX needs jax (pip install jax)")
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_PYTHON"))}
    entries, results, counts = [], [], []
    for run in (1, 2):
        out = tmp_path / f"proba{run}.npy"
        env.update(KERAS_BACKEND="jax", SSCNB_JAX_CACHE=str(cache), OUT=str(out))
        r = subprocess.run([sys.executable, "-c", CACHED], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        entries.append(sorted(p.name for p in cache.iterdir()))
        results.append(np.load(out))
        counts.append(json.loads(r.stdout.strip().splitlines()[-1]))
    assert len(entries[0]) > 3  # the variables' initial values, the training step, ...
    assert counts[0]["miss"] >= len(entries[0]), counts
    assert counts[0]["hit"] == 0, counts
    assert counts[1] == {"hit": counts[0]["miss"], "miss": 0}, counts  # all read back, none compiled
    assert entries[1] == entries[0]
    np.testing.assert_array_equal(results[1], results[0])


FITS = textwrap.dedent("""
    import os, sys
    import numpy as np
    from sscnb.phase2 import _pixel as pixel
    from sscnb.cnn._keras import _keras

    keras = _keras()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2500, 3)).astype(np.float32)  # 2 full batches of 1024 and one of 452
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5) + 1
    kw = dict(
        depth="deep", epochs=2, learning_rate=1e-3, batch_size=1024, use_smote=False, n_trees=1, min_leaf=1, rf_sample=1.0, seed=3
    )
    ours = [pixel.fit_pixel_classifier(x, y, "mlp", **kw).model for _ in range(2)]  # the first of the process, again
    assert "tensorflow" not in sys.modules  # installed here, but not needed (sscnb.cnn._keras.set_random_seed)
    # the reference: Keras's own fit of the same model, from the same state and Keras's own seeding
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    trainer = pixel._trainer(keras, 3, 3, "deep", 1e-3, 3)
    keras.utils.set_random_seed(3)
    trainer.fit(z, np.searchsorted([1, 2, 3], y), epochs=2, batch_size=1024, shuffle=True, verbose=0)
    keras_fit = [(keras.ops.convert_to_numpy(l.kernel), keras.ops.convert_to_numpy(l.bias))
                 for l in trainer.layers if isinstance(l, keras.layers.Dense)]
    untrained = pixel._trainer(keras, 3, 3, "deep", 1e-3, 3).layers[-1].kernel
    np.savez(os.environ["OUT"], *[a for fit in (*ours, keras_fit) for layer in fit for a in layer],
             untrained=keras.ops.convert_to_numpy(untrained))
""")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_the_pixel_mlp_fit_is_keras_fit_and_the_same_first_time(tmp_path, backend):
    """On JAX and PyTorch the pixel MLP's fit gives Keras's fit's weights, bit for bit, and the first fit of a process too.

    Keras's own fit, on JAX and on PyTorch, shuffled a process's first fit with another order (it drew
    a batch to build its loss), so a survey mapped first in its process got another map than later
    in a batch. On JAX sscnb.phase2's epoch loop replaces it; on PyTorch the loss is built before the
    first fit (sscnb.phase2._pixel._trainer). The fits seed without importing TensorFlow
    (sscnb.cnn._keras.set_random_seed) and get what keras.utils.set_random_seed gives.
    """
    pytest.importorskip(backend, reason=f"Keras on {backend} needs it installed (pip install {backend})")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_PYTHON"))}
    env.update(KERAS_BACKEND=backend, SSCNB_JAX_CACHE="off", OUT=str(tmp_path / "fits.npz"))
    r = subprocess.run([sys.executable, "-c", FITS], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    saved = np.load(tmp_path / "fits.npz")
    arrays = [saved[f"arr_{i}"] for i in range(len(saved.files) - 1)]
    first, second, keras_fit = (arrays[i : i + 12] for i in (0, 12, 24))  # 6 Dense layers: kernel and bias
    assert len(arrays) == 36
    for a, b, c in zip(first, second, keras_fit, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert not np.array_equal(first[-2], saved["untrained"])  # it did train
