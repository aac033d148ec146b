#!/usr/bin/python3
"""layerpipe-import end to end, in one Python process (importing torch once
costs ~10 s on a loaded machine, so the importer is loaded as a module and
its main() called per case):

- torchvision resnet18, resnet50, vgg16, alexnet, mobilenet_v2, densenet121
  are imported, compiled by `layerpipe --report-json`, and the compiler's
  parameter count (totals.params) must equal PyTorch's own count of the
  module (sum of numel over parameters());
- an ONNX export of resnet18 (torch.onnx.export, training mode so that the
  batchnorms stay, weights as graph inputs to keep it small) likewise;
- a user's file (FILE.py:CLASS) with two branches joined by torch.cat, a
  view-flatten, a depthwise conv, ReLU6 and dropout, imported with --times:
  every layer gets measured times, the model compiles and trains two epochs
  with layerpipe-train on synthetic data;
- an unsupported operation (F.gelu) is an error naming the node, its op, its
  position and the supported operations; the tool exits 1 (checked in a
  subprocess on an error found before torch is loaded).

Exit 77 (ctest: skipped) when /usr/bin/python3 lacks torch, torchvision or
onnx.

Usage: import_test.py BUILD_DIR
"""

import importlib.machinery
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time

build = os.path.abspath(sys.argv[1])
tool = os.path.join(build, "bin", "layerpipe-import")
compiler = os.path.join(build, "bin", "layerpipe")
trainer = os.path.join(build, "bin", "layerpipe-train")

try:
    import onnx  # noqa: F401
    import torch
    import torchvision
except ImportError as e:
    print("SKIP: %s lacks PyTorch/torchvision/onnx (%s); install "
          "python3-torch python3-torchvision python3-onnx" %
          (sys.executable, e))
    sys.exit(77)

loader = importlib.machinery.SourceFileLoader("layerpipe_import", tool)
spec = importlib.util.spec_from_loader("layerpipe_import", loader)
imp = importlib.util.module_from_spec(spec)
loader.exec_module(imp)

failures = []
started = time.time()


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL: " + message)


def run_import(argv):
    try:
        return imp.main(argv + ["--quiet"])
    except imp.ImportFailure as e:
        return str(e)


def compiled_params(path):
    report = path + ".report.json"
    run = subprocess.run([compiler, path, "--quiet", "--report-json", report],
                         capture_output=True, text=True)
    if run.returncode != 0:
        return "layerpipe failed: " + run.stderr.strip()
    with open(report) as f:
        return json.load(f)["totals"]["params"]


def check_layers(path, what):
    with open(path) as f:
        model = json.load(f)
    names = [layer["name"] for layer in model["layers"]]
    check(len(set(names)) == len(names), what + ": duplicate layer names")
    for layer in model["layers"]:
        check(re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", layer["name"]) is not None,
              "%s: bad name %r" % (what, layer["name"]))
        check("comment" in layer, "%s: layer %s has no comment" %
              (what, layer["name"]))
        check(layer["type"] == "softmax_cross_entropy" or
              "source_name" in layer,
              "%s: layer %s has no source_name" % (what, layer["name"]))
    check(model["layers"][-1]["type"] == "softmax_cross_entropy",
          what + ": the last layer is not the loss")
    return model


def torch_params(module):
    return sum(p.numel() for p in module.parameters())


tmp = tempfile.mkdtemp(prefix="layerpipe-import-test.")

# VGG-16 and AlexNet pool adaptively to 7x7 / 6x6 before their classifiers:
# at 224x224 that pooling is the identity, so their first dense layers have
# PyTorch's sizes. The others pool globally, so a small input keeps them fast.
TORCHVISION = [("resnet18", "3,64,64"), ("resnet50", "3,64,64"),
               ("vgg16", "3,224,224"), ("alexnet", "3,224,224"),
               ("mobilenet_v2", "3,64,64"), ("densenet121", "3,64,64")]
for name, shape in TORCHVISION:
    t0 = time.time()
    out = os.path.join(tmp, name + ".json")
    result = run_import(["torchvision:" + name, "--input", shape, "--batch",
                         "8", "-o", out])
    if result != 0:
        check(False, "torchvision:%s: %s" % (name, result))
        continue
    with imp.SkipInit():
        expected = torch_params(getattr(torchvision.models, name)(
            weights=None))
    got = compiled_params(out)
    check(got == expected, "torchvision:%s: layerpipe counts %s parameters, "
          "PyTorch %d" % (name, got, expected))
    model = check_layers(out, name)
    print("torchvision:%-13s %4d layers %11s parameters (PyTorch %d) %.1f s" %
          (name, len(model["layers"]), got, expected, time.time() - t0))

# ONNX: resnet18 exported in training mode (batchnorm kept as such; an eval
# export folds it into the convolutions), weights as graph inputs.
t0 = time.time()
with imp.SkipInit():
    resnet = torchvision.models.resnet18(weights=None)
with torch.no_grad():
    for p in resnet.parameters():
        p.zero_()
onnx_path = os.path.join(tmp, "resnet18.onnx")
resnet.train()
torch.onnx.export(resnet, torch.zeros(2, 3, 32, 32), onnx_path,
                  training=torch.onnx.TrainingMode.TRAINING,
                  do_constant_folding=False, export_params=False,
                  input_names=["image"])
out = os.path.join(tmp, "resnet18-onnx.json")
result = run_import([onnx_path, "-o", out])
check(result == 0, "onnx resnet18: %s" % result)
if result == 0:
    got = compiled_params(out)
    expected = torch_params(resnet)
    check(got == expected, "onnx resnet18: layerpipe counts %s parameters, "
          "PyTorch %d" % (got, expected))
    model = check_layers(out, "onnx resnet18")
    check(model["input"]["shape"] == [3, 32, 32] and
          model["batch_size"] == 2,
          "onnx resnet18: input %s batch %s, expected [3, 32, 32] and 2 from "
          "the graph" % (model["input"]["shape"], model["batch_size"]))
    print("onnx resnet18            %4d layers %11s parameters (PyTorch %d) "
          "%.1f s" % (len(model["layers"]), got, expected, time.time() - t0))

# A user's file.
user = os.path.join(tmp, "my_net.py")
with open(user, "w") as f:
    f.write('''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.left = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.right = nn.Conv2d(8, 4, 1)
        self.act = nn.ReLU6()
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(12 * 7 * 7, num_classes)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = torch.cat([self.act(self.left(x)), torch.relu(self.right(x))], 1)
        x = self.pool(self.pool(x))
        x = x.view(x.size(0), -1)
        return self.fc(self.drop(x))


class Gelu(Net):
    def forward(self, x):
        return self.fc(F.gelu(self.stem(x)).flatten(1))
''')
t0 = time.time()
out = os.path.join(tmp, "user.json")
result = run_import([user + ":Net", "--input", "1,28,28", "--batch", "16",
                     "--times", "--repeats", "2", "-o", out])
check(result == 0, "user file: %s" % result)
if result == 0:
    model = check_layers(out, "user file")
    types = [layer["type"] for layer in model["layers"]]
    check(types == ["conv2d", "batchnorm", "relu", "conv2d", "relu6",
                    "conv2d", "relu", "concat", "maxpool", "maxpool",
                    "flatten", "dropout", "dense", "softmax_cross_entropy"],
          "user file: layer types %s" % types)
    for layer in model["layers"]:
        times = layer.get("times", {})
        wanted = {"forward"}
        if layer["type"] in ("conv2d", "dense", "batchnorm"):
            wanted |= {"weight_gradient", "update"}
        if layer is not model["layers"][0]:
            wanted.add("activation_gradient")
        check(wanted <= set(times) and all(v > 0 for v in times.values()),
              "user file --times: layer %s has times %s, wanted %s" %
              (layer["name"], times, sorted(wanted)))
    got = compiled_params(out)
    expected = torch_params(imp.build_torch_module(user + ":Net", None)[0])
    check(got == expected, "user file: layerpipe counts %s parameters, "
          "PyTorch %d" % (got, expected))
    train = subprocess.run(
        [trainer, out, "--data", "synthetic", "--train-limit", "64",
         "--test-limit", "32", "--epochs", "2", "--lr", "0.05",
         "--summary-json", out + ".train.json"],
        capture_output=True, text=True)
    check(train.returncode == 0, "layerpipe-train on the imported user "
          "model: " + train.stderr.strip())
    print("user file Net            %4d layers %11s parameters, --times, "
          "trained: %.1f s" % (len(model["layers"]), got, time.time() - t0))

# Unsupported operation: one line naming node, op, position and the list.
message = run_import([user + ":Gelu", "--input", "1,28,28", "-o",
                      os.path.join(tmp, "gelu.json")])
check(isinstance(message, str) and "node 'gelu'" in message and
      "torch.nn.functional.gelu" in message and
      re.search(r"node \d+ of \d+, after module 'stem'", message) and
      "supported operations:" in message and "nn.Conv2d" in message,
      "unsupported op: message %r" % (message,))
check(not os.path.exists(os.path.join(tmp, "gelu.json")),
      "unsupported op: a model file was written anyway")
print("unsupported op: " + str(message)[:110] + "...")

# An --input that does not fit the module is named at the first layer that
# notices, not turned into a different model.
message = run_import([user + ":Net", "--input", "3,28,28", "-o",
                      os.path.join(tmp, "wrong.json")])
check(isinstance(message, str) and "node 'stem'" in message and
      "expects 1 input channels, its input has 3" in message,
      "wrong --input: message %r" % (message,))

# The exit status and the one-line format, on an error found before torch
# is loaded.
bad = subprocess.run([tool, "torchvision:resnet18", "--input", "3,x,224",
                      "-o", os.path.join(tmp, "bad.json")],
                     capture_output=True, text=True)
check(bad.returncode == 1 and bad.stderr.startswith(
    "layerpipe-import: error: --input '3,x,224'") and
    bad.stderr.count("\n") == 1,
    "bad --input: exit %d, stderr %r" % (bad.returncode, bad.stderr))

print("%d failure(s), %.1f s" % (len(failures), time.time() - started))
sys.exit(1 if failures else 0)
