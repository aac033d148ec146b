# lit configuration for LayerPipe's golden tests.
import os
import lit.formats

config.name = "LayerPipe"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.layerpipe_obj_root, "test", "lit")
config.excludes = ["Inputs"]

bin_dir = os.path.join(config.layerpipe_obj_root, "bin")
config.environment["PATH"] = os.pathsep.join(
    [bin_dir, config.llvm_tools_dir, config.environment.get("PATH", "")])
config.substitutions.append(("%models", os.path.join(config.layerpipe_src_root, "models")))
config.substitutions.append(("%src", config.layerpipe_src_root))

# The HTML chart's view logic runs under node; the page itself in headless
# Chromium. Tests that need them say REQUIRES: node / chromium.
import shutil
if shutil.which("node"):
    config.available_features.add("node")
if shutil.which("chromium"):
    config.available_features.add("chromium")
try:
    import jsonschema  # noqa: F401
    config.available_features.add("jsonschema")
except ImportError:
    pass
# The sanitizer build (scripts/sanitize.sh) leaves out the training runtime:
# tests of layerpipe-train say "REQUIRES: trainer" (train/ via lit.local.cfg).
if os.path.exists(os.path.join(bin_dir, "layerpipe-train")):
    config.available_features.add("trainer")
# Debian's fortunes databases (package fortunes): --data fortunes.
if os.path.isdir("/usr/share/games/fortunes"):
    config.available_features.add("fortunes")
# The CBC solver (Debian coinor-cbc) for --scheduler=exact: REQUIRES: cbc.
if shutil.which("cbc"):
    config.available_features.add("cbc")
