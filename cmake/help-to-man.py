"""Writes a man page from a tool's --help and --version:
  help-to-man.py TOOL OUTPUT.1
The overview becomes NAME, the USAGE line SYNOPSIS, each flag category a
subsection of OPTIONS, so the page never disagrees with --help."""
import re
import subprocess
import sys

tool, output = sys.argv[1], sys.argv[2]
name = tool.rsplit("/", 1)[-1]
help_text = subprocess.run([tool, "--help"], capture_output=True, text=True,
                           check=True).stdout
version = subprocess.run([tool, "--version"], capture_output=True, text=True,
                         check=True).stdout.split()[-1]


def esc(text):
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"^([.'])", r"\\&\1", text)


overview, usage, sections, current = "", "", [], None
lines = help_text.splitlines()
i = 0
while i < len(lines):
    line = lines[i]
    if line.startswith("OVERVIEW:"):
        overview = line[len("OVERVIEW:"):].strip()
    elif line.startswith("USAGE:"):
        usage = line[len("USAGE:"):].strip()
    elif line.strip() and not line.startswith(" ") and line.rstrip().endswith(":"):
        current = (line.strip()[:-1], [])
        sections.append(current)
    elif current is not None and re.match(r"^  +-", line):
        m = re.match(r"^ +(\S+(?: <[^>]*>)?)\s+- (.*)$", line)
        flag, desc = (m.group(1), m.group(2)) if m else (line.strip(), "")
        # Continuation lines are indented deeper than the flag column.
        while i + 1 < len(lines) and re.match(r"^ {10,}\S", lines[i + 1]) \
                and not re.match(r"^ +-", lines[i + 1]):
            i += 1
            desc += " " + lines[i].strip()
        current[1].append((flag, desc))
    i += 1

out = [".TH %s 1 \"\" \"LayerPipe %s\" \"User Commands\"" % (name.upper(),
                                                           version),
       ".SH NAME", "%s \\- %s" % (esc(name), esc(overview.split(": ", 1)[-1])),
       ".SH SYNOPSIS", ".B %s" % esc(usage)]
out += [".SH DESCRIPTION", esc(overview),
        ".PP", "Errors are one line \\(lq%s: error: ...\\(rq and exit status 1."
        % esc(name)]
out.append(".SH OPTIONS")
for title, flags in [s for s in sections if s[1]]:
    out.append(".SS %s" % esc(title))
    for flag, desc in flags:
        out += [".TP", "\\fB%s\\fR" % esc(flag), esc(desc)]
out += [".SH SEE ALSO", "The LayerPipe documentation, installed in "
        "share/doc/layerpipe (README.md, docs/*.md)."]
with open(output, "w") as f:
    f.write("\n".join(out) + "\n")
