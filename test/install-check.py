"""Checks an install tree made by `cmake --install build --prefix TREE`:
  install-check.py TREE BINDIR DATADIR LIBDIR MANDIR
Every tool, man page, model, machine file, doc and the pkg-config file is
there; the installed compiler runs on an installed model and machine."""
import os
import shutil
import subprocess
import sys

tree, bindir, datadir, libdir, mandir = sys.argv[1:6]
expected = []
for tool in ["layerpipe", "layerpipe-train", "layerpipe-gen"]:
    expected += [os.path.join(bindir, tool),
                 os.path.join(mandir, "man1", tool + ".1")]
# The Python importer writes its own man page (--man), when the build found
# /usr/bin/python3.
expected.append(os.path.join(bindir, "layerpipe-import"))
if os.path.exists("/usr/bin/python3"):
    expected.append(os.path.join(mandir, "man1", "layerpipe-import.1"))
expected += [os.path.join(datadir, "layerpipe", "models", m + ".json")
             for m in ["lenet5", "resnet20", "zb-p4-m8"]]
expected += [os.path.join(datadir, "layerpipe", "machines", m + ".json")
             for m in ["cpu", "gpu-pcie", "free-link"]]
expected += [os.path.join(datadir, "doc", "layerpipe", f)
             for f in ["README.md", "LICENSE", "docs/model.schema.json"]]
expected.append(os.path.join(libdir, "pkgconfig", "layerpipe-runtime.pc"))
missing = [p for p in expected if not os.path.exists(os.path.join(tree, p))]
if missing:
    sys.exit("missing from the install tree: " + ", ".join(missing))

share = os.path.join(tree, datadir, "layerpipe")
run = subprocess.run(
    [os.path.join(tree, bindir, "layerpipe"),
     os.path.join(share, "models", "lenet5.json"), "--procs", "2",
     "--machine", os.path.join(share, "machines", "cpu.json")],
    capture_output=True, text=True)
if run.returncode != 0 or "throughput:" not in run.stdout:
    sys.exit("installed layerpipe failed: " + run.stderr + run.stdout)

if shutil.which("pkg-config"):
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(tree, libdir,
                                                         "pkgconfig"))
    libs = subprocess.run(["pkg-config", "--libs", "layerpipe-runtime"],
                          capture_output=True, text=True, env=env).stdout
    if "-llayerpipe_runtime" not in libs or "-lopenblas" not in libs:
        sys.exit("pkg-config --libs layerpipe-runtime: " + libs)
print("install tree ok: %d files checked" % len(expected))
