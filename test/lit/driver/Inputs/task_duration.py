"""Prints the duration of a schedule's task (its first instance)."""
import json
import sys

d = json.load(open(sys.argv[1]))
task = next(t for t in d["tasks"] if t["name"] == sys.argv[2])
print(f"{task['name']} {task['end'] - task['start']:.1f}")
