import numpy as np
import pytest

from sscnb.data import _tiles as tiles


def loop_tiles(img, t):
    nr, nc = img.shape[0] // t, img.shape[1] // t
    return np.stack([img[r * t : (r + 1) * t, c * t : (c + 1) * t] for r in range(nr) for c in range(nc)])


def loop_purity(lab, t, codes, purity=0.9, max_unl=0.1):
    out = []
    nr, nc = lab.shape[0] // t, lab.shape[1] // t
    for r in range(nr):
        for c in range(nc):
            tile = lab[r * t : (r + 1) * t, c * t : (c + 1) * t]
            n = tile.size
            best, bn = 0, -1
            for k in codes:
                cnt = int((tile == k).sum())
                if cnt > bn:
                    best, bn = k, cnt
            ok = bn / n >= purity and (tile == 0).sum() / n <= max_unl
            out.append(best if ok else 0)
    return np.array(out)


@pytest.mark.parametrize(("shape", "t"), [((103, 157, 3), 10), ((50, 50, 3), 50), ((64, 96), 16), ((99, 30, 3), 7)])
def test_to_tiles_matches_loop(shape, t):
    img = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    np.testing.assert_array_equal(tiles.to_tiles(img, t), loop_tiles(img, t))


def test_tiles_to_raster_round_trip_and_fill():
    rng = np.random.default_rng(1)
    vals = rng.integers(1, 6, 12)
    r = tiles.tiles_to_raster(vals, (3, 4), 5, out_shape=(17, 23), fill=0)
    assert r.shape == (17, 23)
    assert (r[15:, :] == 0).all()
    assert (r[:, 20:] == 0).all()
    # every tile of the raster carries its value: tile again and compare
    np.testing.assert_array_equal(tiles.to_tiles(r, 5)[:, 0, 0], vals)
    for k, v in enumerate(vals):
        rr, cc = divmod(k, 4)
        assert (r[rr * 5 : (rr + 1) * 5, cc * 5 : (cc + 1) * 5] == v).all()
    prob = tiles.tiles_to_raster(rng.random((12, 3)), (3, 4), 5)
    assert prob.shape == (15, 20, 3)


def test_purity_hand_cases():
    t = 10
    lab = np.zeros((10, 50), np.uint8)
    lab[:, 0:10] = 1
    lab[:9, 0:10] = 1
    lab[9, 1:10] = 2  # 91 water / 9 sediment -> water
    lab[:, 10:20] = 1
    lab[9, 10:20] = 2
    lab[8, 10:11] = 2  # 89% water -> not labelled
    lab[:, 20:30] = 1
    lab[9, 20:30] = 3  # exactly 90% -> water
    lab[:, 30:40] = 1
    lab[9, 30:40] = 0
    lab[8, 30:31] = 0  # 89% water, 11% unlabelled -> no
    lab[:, 40:50] = 2
    lab[9, 40:50] = 0  # 90% sediment, 10% unlabelled -> sediment
    got = tiles.purity_labels(lab, t, [1, 2, 3])
    np.testing.assert_array_equal(got, [1, 0, 1, 0, 2])
    # with a lower purity the unlabelled rule still applies: 11% unlabelled is never used
    lab2 = np.ones((10, 10), np.uint8)
    lab2[:2] = 0
    lab2[2, 0] = 0  # 79% water, 21% unlabelled
    assert tiles.purity_labels(lab2, t, [1, 2], purity=0.5)[0] == 0


def test_purity_matches_loop_reference():
    rng = np.random.default_rng(3)
    # blocky labels so that many tiles are pure, plus noise
    lab = np.kron(rng.integers(0, 4, (12, 15)), np.ones((9, 9), np.uint8)).astype(np.uint8)
    noise = rng.random(lab.shape) < 0.06
    lab[noise] = rng.integers(0, 4, noise.sum())
    for p in (0.9, 0.75, 1.0):
        np.testing.assert_array_equal(tiles.purity_labels(lab, 10, [1, 2, 3], p), loop_purity(lab, 10, [1, 2, 3], p))
    assert tiles.count_pure_tiles(lab, 10, [1, 2, 3]) == {c: int((loop_purity(lab, 10, [1, 2, 3]) == c).sum()) for c in (1, 2, 3)}
