"""Prints a profile's separate and merged backward times (of the layers
with a merged time), or a schedule's
backward work of one micro-batch (B, G and BG tasks; a synchronous
schedule's micro-batch 0)."""
import json
import sys

d = json.load(open(sys.argv[1]))
if d.get("format") == "layerpipe-profile":
    # The loss layer's one task (L) is no backward task.
    layers = [v for v in d["layers"].values() if "merged_backward" in v]
    sep = sum(v.get("activation_gradient", 0) + v.get("weight_gradient", 0)
              for v in layers)
    merged = sum(v.get("merged_backward", 0) for v in layers)
    print(f"separate {sep:g} merged {merged:g}")
else:
    total = sum(t["end"] - t["start"] for t in d["tasks"]
                if t["kind"] in ("B", "G", "BG")
                and t.get("micro_batch", 0) in (0, None))
    print(f"backward {total:.1f}")
