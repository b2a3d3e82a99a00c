"""Validates a compose file against the Compose Specification's JSON schema
(compose_spec.json, given as the second argument), and checks that the
validator refuses a broken copy of it, so a schema that accepts anything
cannot pass. Prints the problems; exit 1 if any."""

import copy
import json
import sys

import jsonschema
import yaml


def errors(schema, doc):
    # The schema names draft 2019-09 (with a trailing "#" jsonschema does not resolve).
    validator = jsonschema.Draft201909Validator(schema)
    return sorted(validator.iter_errors(doc), key=lambda e: list(e.path))


def main(compose_path, schema_path):
    schema = json.load(open(schema_path))
    doc = yaml.safe_load(open(compose_path))
    problems = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors(schema, doc)]
    broken = copy.deepcopy(doc)
    first = next(iter(broken["services"]))
    broken["services"][first]["restart_policy"] = "sometimes"
    if not errors(schema, broken):
        problems.append("the schema accepted an unknown service key: it validates nothing")
    for p in problems:
        print(p)
    print(f"{len(doc['services'])} services checked against {schema.get('title', schema_path)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
