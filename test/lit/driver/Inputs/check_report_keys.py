#!/usr/bin/env python3
"""Prints which documented report keys (docs/report-json.md, the part written
before planning) are missing from REPORT.json, then a few of its values.

Later stages add keys; only the absence of ours is an error here."""
import json
import sys

REQUIRED = {
    "": ["model", "layers", "totals", "dfg", "metrics"],
    "model": ["name", "batch_size", "input_shape"],
    "layers[]": ["name", "type", "inputs", "output_shape", "params", "flops",
                 "times_us"],
    "layers[].flops": ["forward", "activation_gradient", "weight_gradient",
                       "update", "total"],
    "layers[].times_us": ["forward", "activation_gradient", "weight_gradient",
                          "update"],
    "totals": ["params", "flops", "work"],
    "dfg": ["tasks", "edges", "merge_backward"],
    "metrics": ["iteration_bound", "critical_loop", "critical_loop_delays",
                "critical_loop_time_us"],
}

r = json.load(open(sys.argv[1]))
missing = []
for where, keys in REQUIRED.items():
    objects = [r]
    for part in filter(None, where.split(".")):
        if part.endswith("[]"):
            objects = [item for o in objects for item in o[part[:-2]]]
        else:
            objects = [o[part] for o in objects]
    for o in objects:
        missing += [f"{where}.{k}" for k in keys if k not in o]
print("missing keys:", sorted(set(missing)))
layers = r["layers"]
print(f"layers {len(layers)}, params {r['totals']['params']}")
fc1 = layers[7]
print(f"layers[7]: {fc1['name']} {fc1['type']} inputs {fc1['inputs']} "
      f"output_shape {fc1['output_shape']} params {fc1['params']}")
print("layers[0].times_us.activation_gradient:",
      layers[0]["times_us"]["activation_gradient"])
loop = r["metrics"]["critical_loop"]
print(f"critical loop: {loop[0]} ... {loop[-1]}, {len(loop)} tasks, "
      f"{r['metrics']['critical_loop_delays']} delay")
