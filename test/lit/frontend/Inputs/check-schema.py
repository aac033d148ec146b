"""Validates model files against docs/model.schema.json:
  check-schema.py SCHEMA MODEL... -- every MODEL must validate;
  check-schema.py --reject SCHEMA MODEL... -- every MODEL must fail.
Prints one line per file."""
import json
import sys

import jsonschema

args = sys.argv[1:]
reject = args[0] == "--reject"
if reject:
    args = args[1:]
schema = json.load(open(args[0]))
jsonschema.Draft7Validator.check_schema(schema)
validator = jsonschema.Draft7Validator(schema)
failed = False
for path in args[1:]:
    errors = sorted(validator.iter_errors(json.load(open(path))), key=str)
    if reject:
        print(("rejected: " if errors else "ACCEPTED: ") + path)
        failed |= not errors
    else:
        for error in errors:
            print("INVALID: %s: %s at /%s" % (path, error.message,
                  "/".join(str(p) for p in error.absolute_path)))
        if not errors:
            print("valid: " + path)
        failed |= bool(errors)
sys.exit(1 if failed else 0)
