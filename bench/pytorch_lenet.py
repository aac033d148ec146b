#!/usr/bin/python3
"""PyTorch baseline for bench/train_vs_pytorch.sh.

Trains the same LeNet-5 as models/lenet5.json (conv 6@5x5 pad 2, relu, max
pool 2, conv 16@5x5, relu, max pool 2, dense 120, relu, dense 84, relu,
dense 10, softmax cross-entropy) on Fashion-MNIST read from the same IDX
files, with the same hyper-parameters, on one thread. Pixels are scaled to
[0, 1] exactly as the LayerPipe runtime does; the last partial batch of an
epoch is dropped, as in layerpipe-train. Prints one line per epoch and a
final line `pytorch: samples_per_s=... test_accuracy=...` (training time
only, evaluation excluded).

--delay D trains with every gradient applied D steps after it was computed
(on the weights of its own step): delayed SGD with weight stashing, an
independent cross-check of `layerpipe-train --delays=uniform:D
--weights=stash`.

Run with Debian's interpreter: /usr/bin/python3 bench/pytorch_lenet.py
"""
import argparse
import collections
import gzip
import json
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    rank = magic & 0xFF
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def load(data_dir, split, limit):
    prefix = f"{data_dir}/{'train' if split == 'train' else 't10k'}"
    images = read_idx(prefix + "-images-idx3-ubyte.gz")
    labels = read_idx(prefix + "-labels-idx1-ubyte.gz")
    if limit > 0:
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--train-limit", type=int, default=0)
    p.add_argument("--test-limit", type=int, default=0)
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--summary-json", default="")
    p.add_argument("--delay", type=int, default=0)
    args = p.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    x_train, y_train = load(args.data_dir, "train", args.train_limit)
    x_test, y_test = load(args.data_dir, "test", args.test_limit)
    model = LeNet5()
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    steps = x_train.shape[0] // args.batch
    train_seconds, train_cpu, train_samples = 0.0, 0.0, 0
    pending = collections.deque()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(x_train.shape[0])
        loss_sum, correct = 0.0, 0
        start, cpu_start = time.perf_counter(), time.process_time()
        for s in range(steps):
            idx = order[s * args.batch:(s + 1) * args.batch]
            xb, yb = x_train[idx], y_train[idx]
            opt.zero_grad()
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            loss.backward()
            step = True
            if args.delay > 0:
                pending.append([q.grad.clone() for q in model.parameters()])
                # No gradient old enough yet: the step is skipped.
                step = len(pending) > args.delay
                if step:
                    for q, g in zip(model.parameters(), pending.popleft()):
                        q.grad = g
            if step:
                opt.step()
            loss_sum += loss.item() * args.batch
            correct += (logits.argmax(1) == yb).sum().item()
        seconds = time.perf_counter() - start
        train_cpu += time.process_time() - cpu_start
        train_seconds += seconds
        train_samples += steps * args.batch
        model.eval()
        with torch.no_grad():
            test_correct = 0
            for b in range(0, x_test.shape[0], 500):
                out = model(x_test[b:b + 500])
                test_correct += (out.argmax(1) == y_test[b:b + 500]).sum().item()
        test_acc = test_correct / x_test.shape[0]
        n = steps * args.batch
        print(f"pytorch epoch {epoch + 1}/{args.epochs}: loss {loss_sum / n:.4f}  "
              f"train-acc {100 * correct / n:.2f}%  test-acc {100 * test_acc:.2f}%  "
              f"{n / seconds:.0f} samples/s", flush=True)
    sps = train_samples / train_seconds
    cpu_sps = train_samples / train_cpu
    print(f"pytorch: samples_per_s={sps:.1f} cpu_samples_per_s={cpu_sps:.1f} "
          f"test_accuracy={test_acc:.4f} "
          f"threads={torch.get_num_threads()} torch={torch.__version__}")
    if args.summary_json:
        with open(args.summary_json, "w") as f:
            json.dump({"samples_per_s": sps, "cpu_samples_per_s": cpu_sps,
                       "test_accuracy": test_acc,
                       "epochs": args.epochs, "torch": torch.__version__}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
