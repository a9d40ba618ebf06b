#!/usr/bin/env python3
"""Lists the module-level dependencies of a crate's sources and any import cycles among them.

    scripts/module-cycles.py [SRC_DIR] [LEVEL]

SRC_DIR defaults to host/src; LEVEL 1 groups by top-level module (`compress`), 2 by the
next one (`compress::search`). A dependency is a `crate::x` or `super::x` path in a
file's code (comments and `#[cfg(test)]` modules are left out). Prints one line per
module and `cycles: [...]`; exits 1 when there is a cycle.
"""
import collections
import os
import re
import sys

src = sys.argv[1] if len(sys.argv) > 1 else "host/src"
level = int(sys.argv[2]) if len(sys.argv) > 2 else 1


def module_of(path):
    parts = os.path.relpath(path, src)[:-3].split("/")
    return parts[:-1] if parts[-1] in ("mod", "lib", "main") else parts


def is_module(parts):
    base = os.path.join(src, *parts)
    return os.path.isdir(base) or os.path.exists(base + ".rs")


deps = collections.defaultdict(set)
for folder, _, files in os.walk(src):
    for f in files:
        if not f.endswith(".rs") or f == "main.rs":
            continue
        path = os.path.join(folder, f)
        me = module_of(path)
        text = open(path).read()
        cut = text.find("#[cfg(test)]")
        if cut >= 0:
            text = text[:cut]
        text = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
        for m in re.finditer(r"\bcrate::([a-z_]+)(?:::([a-z_]+))?", text):
            target = [m.group(1)]
            if m.group(2) and is_module(target + [m.group(2)]):
                target.append(m.group(2))
            deps["::".join(me)].add("::".join(target))
        for m in re.finditer(r"\bsuper::([a-z_]+)", text):
            deps["::".join(me)].add("::".join(me[:-1] + [m.group(1)]))

graph = collections.defaultdict(set)
for a, bs in deps.items():
    for b in bs:
        ta, tb = "::".join(a.split("::")[:level]), "::".join(b.split("::")[:level])
        if ta and tb and ta != tb:
            graph[ta].add(tb)

index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in graph.get(v, ()):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop()
            on.discard(w)
            comp.append(w)
            if w == v:
                break
        if len(comp) > 1:
            cycles.append(sorted(comp))


for v in list(graph):
    if v not in index:
        visit(v)
for k in sorted(graph):
    print(k, "->", ", ".join(sorted(graph[k])))
print("cycles:", cycles)
sys.exit(1 if cycles else 0)
