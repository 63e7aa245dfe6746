#!/usr/bin/env python3
"""Checks recorded HTTP answers against an OpenAPI 3.1 document.

usage: openapi_check.py OPENAPI.yaml ANSWERS.json

ANSWERS.json is a list of {"method", "path", "status", "content_type", "headers", "body"}, with
"path" the document's path template and "body" the answer's raw text. Every answer's status
must be documented for its operation, its media type among that response's, its required
headers present (and every documented one it carries of the documented type), and a JSON body valid against the response's schema (JSON Schema 2020-12, the
dialect of OpenAPI 3.1). Exits 1 naming each answer that is not.
"""
import json
import sys

import jsonschema
import yaml


def escape(key):
    return str(key).replace("~", "~0").replace("/", "~1")


def follow(doc, node, pointer):
    """The node a local $ref chain ends at, with its JSON pointer."""
    while isinstance(node, dict) and "$ref" in node:
        pointer = node["$ref"]
        assert pointer.startswith("#/"), pointer
        node = doc
        for part in pointer[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node, pointer


def check(doc, answer):
    operation = doc["paths"].get(answer["path"], {}).get(answer["method"])
    if operation is None:
        return ["not a documented operation"]
    status = str(answer["status"])
    response = operation["responses"].get(status)
    if response is None:
        return [f"status {answer['status']} is not documented for it"]
    response, pointer = follow(
        doc, response,
        f"#/paths/{escape(answer['path'])}/{answer['method']}/responses/{status}")
    problems = []
    headers = {k.lower(): v for k, v in answer["headers"].items()}
    for name, header in response.get("headers", {}).items():
        header, _ = follow(doc, header, "")
        value = headers.get(name.lower())
        if value is None:
            if header.get("required"):
                problems.append(f"required header {name} is missing")
            continue
        if header.get("schema", {}).get("type") == "integer" and not value.isdigit():
            problems.append(f"header {name}: {value!r} is not an integer")
    media = answer["content_type"].split(";")[0].strip()
    content = response.get("content", {})
    if media not in content:
        return problems + [f"media type {media} is not documented (only {sorted(content)})"]
    if media == "application/json":
        body = json.loads(answer["body"])
        # The whole document as the root schema (its OpenAPI keys are no JSON Schema keywords),
        # so that every "#/components/..." reference resolves within it.
        root = dict(doc, **{"$ref": f"{pointer}/content/{escape(media)}/schema"})
        validator = jsonschema.Draft202012Validator(root)
        for error in validator.iter_errors(body):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            problems.append(f"{where}: {error.message[:300]}")
    elif media == "application/yaml":
        if yaml.safe_load(answer["body"]) != doc:
            problems.append("the served document differs from the file")
    return problems


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    with open(sys.argv[2], encoding="utf-8") as f:
        answers = json.load(f)
    jsonschema.Draft202012Validator.check_schema({"$defs": doc["components"]["schemas"]})
    failed = 0
    for answer in answers:
        label = f"{answer['method'].upper()} {answer['path']} {answer['status']}"
        problems = check(doc, answer)
        if problems:
            failed += 1
            print(f"FAIL {label}: " + "; ".join(problems))
        else:
            print(f"ok   {label}")
    print(f"{len(answers) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
