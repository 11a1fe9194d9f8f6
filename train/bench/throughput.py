"""Training throughput of a recipe's network: veil-train on each backend asked for, side by side
with PyTorch running the same layers, batch, optimizer and timing on the same device.

    python3 train/bench/throughput.py --veil-train target/release/veil-train \
        --config recipes/s0-benchmark.toml --backend cpu --backend cuda

For each backend, `veil-train bench --json` times its steps and reports the layers it timed
(`LayersConfig` from veil-core); PyTorch then builds those layers and times the same number of
steps on random images (cpu for `cpu`, cuda for `cuda` and `wgpu`). Both upload each batch from
host memory and read the loss back every step. PyTorch runs eager, float32, with its default
settings (which allow TF32 in cuDNN convolutions; `--no-tf32` turns that off). Prints a Markdown
table and, with --json-out, the raw measurements.
"""

import argparse
import json
import subprocess
import sys
import time

import torch
from torch import nn
import torch.nn.functional as F


class SamePadConv(nn.Conv2d):
    """Conv2d with Keras/TensorFlow 'same' padding: out = ceil(in / stride), the odd pixel of
    padding at the bottom/right, as burn's `PaddingConfig2d::Same` does."""

    def forward(self, x):
        pads = []
        for size, kernel, stride in zip(x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1]):
            out = -(-size // stride)
            total = max((out - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def feature_side(layers):
    side = layers["input_size"]
    for conv in layers["conv"]:
        side = -(-side // conv["stride"])
        if conv["pool"]:
            side //= 2
    return side


def build(layers):
    """veil-core's `LayersConfig::init`: conv blocks, flatten, dense blocks, output."""
    modules, channels = [], 3
    for conv in layers["conv"]:
        modules += [
            SamePadConv(channels, conv["channels"], conv["kernel"], stride=conv["stride"]),
            nn.BatchNorm2d(conv["channels"]),
            nn.ReLU(),
        ]
        if conv["pool"]:
            modules.append(nn.MaxPool2d(2))
        if conv["dropout"] > 0:
            modules.append(nn.Dropout(conv["dropout"]))
        channels = conv["channels"]
    modules.append(nn.Flatten())
    width = channels * feature_side(layers) ** 2
    for hidden in layers["hidden"]:
        modules += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(layers["dropout"])]
        width = hidden
    modules.append(nn.Linear(width, layers["num_classes"]))
    return nn.Sequential(*modules)


def optimizer(parameters, config):
    rate, decay = config["learning_rate"], config["weight_decay"]
    if config["kind"] == "adam":
        return torch.optim.Adam(parameters, lr=rate, weight_decay=decay)
    if config["kind"] == "adamw":
        return torch.optim.AdamW(parameters, lr=rate, weight_decay=decay)
    return torch.optim.SGD(parameters, lr=rate, momentum=config["momentum"], nesterov=config["nesterov"], weight_decay=decay)


def pytorch_throughput(veil, device_name, warmup, no_tf32):
    """PyTorch's images/s for the network and settings veil-train reported."""
    torch.backends.cudnn.allow_tf32 = not no_tf32
    torch.backends.cuda.matmul.allow_tf32 = not no_tf32
    torch.manual_seed(0)
    device = torch.device(device_name)
    layers, batch, side = veil["architecture"], veil["batch_size"], veil["input_size"]
    if layers is None:
        sys.exit("throughput.py rebuilds the layer-stack nets only; this recipe's network is EfficientNet")
    model = build(layers).to(device).train()
    step_optimizer = optimizer(model.parameters(), veil["optimizer"])
    loss_fn = nn.CrossEntropyLoss()
    # Host-side batches uploaded every step, as veil-train does.
    batches = [
        (torch.rand(batch, 3, side, side), torch.randint(0, layers["num_classes"], (batch,)))
        for _ in range(4)
    ]

    def step(index):
        images, labels = batches[index % len(batches)]
        step_optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images.to(device)), labels.to(device))
        loss.backward()
        step_optimizer.step()
        return loss.item()  # waits for the device, like veil's read-back of the loss

    for index in range(warmup):
        step(index)
    started = time.perf_counter()
    for index in range(veil["steps"]):
        step(index)
    return veil["steps"] * batch / (time.perf_counter() - started)


def veil_throughput(args, backend):
    command = [args.veil_train, "bench", "--backend", backend, "--json",
               "--steps", str(args.steps), "--warmup", str(args.warmup)]
    if args.config:
        command += ["--config", args.config]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if not lines:
        sys.exit(f"veil-train bench --backend {backend} failed ({done.returncode}):\n{done.stderr.strip()}")
    if done.returncode != 0:
        # Some Vulkan drivers crash while the process exits, after the measurement was printed.
        print(f"warning: veil-train bench --backend {backend} exited with {done.returncode} after measuring",
              file=sys.stderr)
    return json.loads(lines[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--veil-train", required=True, help="the veil-train binary to time")
    parser.add_argument("--config", help="recipe (veil-train's defaults without one)")
    parser.add_argument("--backend", action="append", choices=["cpu", "wgpu", "cuda"], required=True)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-tf32", action="store_true", help="PyTorch: plain float32 convolutions and matmuls")
    parser.add_argument("--json-out", help="also write every measurement here")
    args = parser.parse_args()
    rows, peers = [], {}
    for backend in args.backend:
        veil = veil_throughput(args, backend)
        device = "cpu" if backend == "cpu" else "cuda"
        if device not in peers:
            peers[device] = pytorch_throughput(veil, device, args.warmup, args.no_tf32)
        rows.append({"backend": backend, "batch_size": veil["batch_size"], "input_size": veil["input_size"],
                     "steps": veil["steps"], "veil_images_per_second": veil["images_per_second"],
                     "pytorch_device": device, "pytorch_images_per_second": peers[device]})
    peer = f"PyTorch {torch.__version__}" + (" (no TF32)" if args.no_tf32 else "")
    print(f"| veil-train backend | batch | px | veil images/s | {peer} device | {peer} images/s | veil / PyTorch |")
    print("|---|---:|---:|---:|---|---:|---:|")
    for row in rows:
        print(f"| {row['backend']} | {row['batch_size']} | {row['input_size']} | {row['veil_images_per_second']:.1f} "
              f"| {row['pytorch_device']} | {row['pytorch_images_per_second']:.1f} "
              f"| {row['veil_images_per_second'] / row['pytorch_images_per_second']:.2f}x |")
    if args.json_out:
        with open(args.json_out, "w") as file:
            json.dump({"pytorch": torch.__version__, "no_tf32": args.no_tf32, "rows": rows}, file, indent=2)


if __name__ == "__main__":
    main()
