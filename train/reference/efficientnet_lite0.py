"""PyTorch's logits for EfficientNet-Lite0's ImageNet weights on the sample photos: the reference
the Rust import is checked against (`pretrained.rs`, within 1e-3). Written here from the paper
and the weights' own tensor names, independently of burn; TF-style 'same' padding, BatchNorm
eps 1e-3, ReLU6, inputs (pixel - 127) / 128.

    cargo xtask backbone-reference     (runs: python3 efficientnet_lite0.py WEIGHTS SAMPLES OUT)
"""

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# (repeats, kernel, first stride, expansion, output channels) of the seven stages.
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]


def conv_same(x, weight, stride, groups=1):
    """TensorFlow's 'same': the odd pixel of padding goes after (bottom/right)."""
    k = weight.shape[-1]
    h, w = x.shape[-2:]
    pad_h = max((math.ceil(h / stride) - 1) * stride + k - h, 0)
    pad_w = max((math.ceil(w / stride) - 1) * stride + k - w, 0)
    x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
    return F.conv2d(x, weight, stride=stride, groups=groups)


def norm(x, weights, prefix):
    return F.batch_norm(x, weights[prefix + "running_mean"], weights[prefix + "running_var"],
                        weights[prefix + "weight"], weights[prefix + "bias"], False, 0.0, 1e-3)


def logits(images, w):
    x = (images * 255 - 127) / 128
    x = F.relu6(norm(conv_same(x, w["_conv_stem.weight"], 2), w, "_bn0."))
    block = 0
    for repeats, _kernel, stride, _expansion, _output in STAGES:
        for repeat in range(repeats):
            p = f"_blocks.{block}."
            s = stride if repeat == 0 else 1
            y = x
            if p + "_expand_conv.weight" in w:
                y = F.relu6(norm(conv_same(y, w[p + "_expand_conv.weight"], 1), w, p + "_bn0."))
            y = F.relu6(norm(conv_same(y, w[p + "_depthwise_conv.weight"], s, y.shape[1]), w, p + "_bn1."))
            y = norm(conv_same(y, w[p + "_project_conv.weight"], 1), w, p + "_bn2.")
            x = y + x if s == 1 and y.shape == x.shape else y
            block += 1
    x = F.relu6(norm(conv_same(x, w["_conv_head.weight"], 1), w, "_bn1."))
    return F.linear(x.mean((2, 3)), w["_fc.weight"], w["_fc.bias"])


def main(weights_path, samples, out):
    # weights_only=False: the file is the legacy (pre-1.6) pickle, pinned by SHA-256 in xtask.
    weights = torch.load(weights_path, map_location="cpu", weights_only=False)
    results = []
    for path in sorted(Path(samples).glob("*.png")):
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255
        images = torch.from_numpy(pixels).permute(2, 0, 1)[None]
        with torch.no_grad():
            row = logits(images, weights)[0]
        results.append({
            "file": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "top5": row.topk(5).indices.tolist(),
            "logits": [round(v, 6) for v in row.tolist()],
        })
    reference = {
        "weights_sha256": hashlib.sha256(Path(weights_path).read_bytes()).hexdigest(),
        "torch": torch.__version__,
        "images": results,
    }
    Path(out).write_text(json.dumps(reference, separators=(",", ":")) + "\n")
    for result in results:
        print(result["file"], result["top5"])


if __name__ == "__main__":
    main(*sys.argv[1:4])
