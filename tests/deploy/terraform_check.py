"""Reads every .tf file under the directory given (python-hcl2) and checks
what terraform validate would and more: every variable is typed and
described, every output described, every module argument is a variable of
the module it calls, every required variable is passed, and every module
has main.tf, variables.tf, outputs.tf and versions.tf pinning its providers.
Prints one line per problem; exit 1 if any."""

import os
import sys

import hcl2


def load(path):
    with open(path) as f:
        return hcl2.load(f)


def val(x):
    """python-hcl2 wraps attribute values in one-element lists."""
    while isinstance(x, list) and len(x) == 1:
        x = x[0]
    return x


def attrs(body):
    """A block's attributes, without the parser's line markers."""
    return {k: v for k, v in body.items() if not k.startswith("__")}


def module_dirs(root):
    for d, _, files in os.walk(root):
        if any(f.endswith(".tf") for f in files):
            yield d


def read_module(d):
    blocks = {"variable": {}, "output": {}, "module": {}, "terraform": [], "resource": 0}
    for f in sorted(os.listdir(d)):
        if not f.endswith(".tf"):
            continue
        doc = load(os.path.join(d, f))
        for v in doc.get("variable", []):
            for name, body in v.items():
                blocks["variable"][name] = (f, attrs(body))
        for o in doc.get("output", []):
            for name, body in o.items():
                blocks["output"][name] = (f, attrs(body))
        for m in doc.get("module", []):
            for name, body in m.items():
                blocks["module"][name] = (f, attrs(body))
        blocks["terraform"] += doc.get("terraform", [])
        blocks["resource"] += len(doc.get("resource", []))
    return blocks


def main(root):
    problems = []
    modules = {d: read_module(d) for d in module_dirs(root)}
    for d, m in modules.items():
        rel = os.path.relpath(d, root)
        is_example = rel.startswith("examples")
        for f in ["main.tf", "variables.tf", "outputs.tf", "versions.tf"]:
            if not os.path.exists(os.path.join(d, f)):
                problems.append(f"{rel}: no {f}")
        providers = {}
        for t in m["terraform"]:
            if "required_version" not in t:
                problems.append(f"{rel}: versions.tf does not pin required_version")
            for rp in t.get("required_providers", []):
                providers.update(attrs(val(rp)))
        if not providers:
            problems.append(f"{rel}: no required_providers")
        for name, spec in providers.items():
            spec = val(spec)
            if not isinstance(spec, dict) or not val(spec.get("version")) or not val(spec.get("source")):
                problems.append(f"{rel}: provider {name} without source and version constraint")
        for name, (f, body) in m["variable"].items():
            if "type" not in body:
                problems.append(f"{rel}/{f}: variable {name} has no type")
            if not str(val(body.get("description", ""))).strip():
                problems.append(f"{rel}/{f}: variable {name} has no description")
        for name, (f, body) in m["output"].items():
            if not str(val(body.get("description", ""))).strip():
                problems.append(f"{rel}/{f}: output {name} has no description")
        if not is_example and not m["variable"]:
            problems.append(f"{rel}: a module without variables")
        for call, (f, body) in m["module"].items():
            source = val(body.get("source"))
            target = os.path.normpath(os.path.join(d, source))
            if target not in modules:
                problems.append(f"{rel}/{f}: module {call} sources {source}, which has no .tf files")
                continue
            inputs = modules[target]["variable"]
            meta = {"source", "version", "providers", "count", "for_each", "depends_on"}
            for arg in body:
                if arg not in meta and arg not in inputs:
                    problems.append(f"{rel}/{f}: module {call} sets {arg}, which {source} does not declare")
            for var, (_, vbody) in inputs.items():
                if "default" not in vbody and var not in body:
                    problems.append(f"{rel}/{f}: module {call} does not set required variable {var}")
    for p in problems:
        print(p)
    print(f"{len(modules)} modules, {sum(len(m['variable']) for m in modules.values())} variables checked")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
