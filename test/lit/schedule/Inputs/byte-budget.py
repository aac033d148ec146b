import json
import sys

auto, stages, free = (json.load(open(path))["metrics"] for path in sys.argv[1:4])
budget = 1.5 * stages["comm_bytes"]
yes = {True: "yes", False: "no"}
print("auto placement", auto["placement"])
print("free placement over the budget:", yes[free["comm_bytes"] > budget])
print("auto within the budget:", yes[auto["comm_bytes"] <= budget])
print("auto shorter than the stages:", yes[auto["period"] < stages["period"]])
