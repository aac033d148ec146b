"""Reads a tool's --help on stdin; fails naming every flag that takes a value
but does not say its default ("default", or "no default")."""
import re
import sys

text = sys.stdin.read()
missing = []
for entry in re.split(r"\n(?=  +-)", text):
    words = " ".join(entry.split())
    flag = words.split(" ")[0]
    if flag.startswith("-") and "=<" in flag and "default" not in words.lower():
        missing.append(flag)
if missing:
    print("flags without a default in --help: " + ", ".join(missing))
    sys.exit(1)
print("ok")
