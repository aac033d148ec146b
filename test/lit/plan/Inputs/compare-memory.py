"""Prints the weight-version and total bytes of two report JSONs side by side
(the first run with --weights=stash, the second with another policy)."""
import json
import sys

a, b = (json.load(open(path)) for path in sys.argv[1:3])
name_a, name_b = a["plan"]["weights"], b["plan"]["weights"]
for key, get in (("weight_versions", lambda r: r["memory"]["total"]["weight_versions"]),
                 ("total_bytes", lambda r: r["memory"]["total_bytes"])):
    x, y = get(a), get(b)
    print(f"{key} {name_a} {x} {'>' if x > y else '<='} {name_b} {y}")
print("delays equal:", [l["gradient_delay"] for l in a["layers"]] ==
      [l["gradient_delay"] for l in b["layers"]])
