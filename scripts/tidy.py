#!/usr/bin/env python3
"""tidy.py BUILD_DIR - runs clang-tidy on every src/ file of BUILD_DIR's
compile_commands.json, in parallel, and exits 1 on any finding (.clang-tidy
has WarningsAsErrors: '*').

A file that passed is remembered under BUILD_DIR/tidy-ok/ by a hash of its
source, its preprocessed text (so every header it includes), every
.clang-tidy and the clang-tidy version: a later run re-checks only what
changed. Comments in headers are not in the hash (a NOLINT added to a
header alone does not re-check its users; `rm -r BUILD_DIR/tidy-ok` does).
"""

import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def config_key(repo):
    h = hashlib.sha256()
    h.update(subprocess.run(["clang-tidy", "--version"], capture_output=True).stdout)
    for root, _, files in os.walk(os.path.join(repo, "src")):
        if ".clang-tidy" in files:
            with open(os.path.join(root, ".clang-tidy"), "rb") as f:
                h.update(root.encode() + f.read())
    with open(os.path.join(repo, ".clang-tidy"), "rb") as f:
        h.update(f.read())
    return h.digest()


def file_key(entry, base):
    args = entry.get("arguments") or shlex.split(entry["command"])
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "-o":
            skip = True
        elif a != "-c":
            out.append(a)
    pre = subprocess.run(out + ["-E"], cwd=entry["directory"], capture_output=True)
    if pre.returncode != 0:
        return None  # let clang-tidy report it
    h = hashlib.sha256(base)
    with open(entry["file"], "rb") as f:
        h.update(f.read())
    h.update(pre.stdout)
    return h.hexdigest()


def check(entry, build, base, okdir):
    key = file_key(entry, base)
    if key and os.path.exists(os.path.join(okdir, key)):
        return entry["file"], 0, ""
    r = subprocess.run(["clang-tidy", "-quiet", "-p", build, entry["file"]],
                       capture_output=True, text=True)
    if r.returncode == 0 and key:
        open(os.path.join(okdir, key), "w").close()
    text = ANSI.sub("", r.stdout + r.stderr)
    lines = [ln for ln in text.splitlines() if not re.match(r"^\d+ warnings? generated", ln)]
    return entry["file"], r.returncode, "\n".join(lines)


def main():
    build = os.path.abspath(sys.argv[1])
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    src = os.path.join(repo, "src") + os.sep
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = [e for e in json.load(f) if os.path.abspath(e["file"]).startswith(src)]
    okdir = os.path.join(build, "tidy-ok")
    os.makedirs(okdir, exist_ok=True)
    base = config_key(repo)
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as ex:
        for path, rc, out in ex.map(lambda e: check(e, build, base, okdir), entries):
            if rc != 0:
                failed += 1
                print(out)
    print("clang-tidy: %d files, %d with findings" % (len(entries), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
