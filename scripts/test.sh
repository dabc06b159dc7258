#!/usr/bin/env bash
# Install tessera with its test dependencies, check style, and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e ".[test]"
python -m ruff check .
# The docstrings' examples run too (--doctest-modules over the package).
python -m pytest -n 2 -q --doctest-modules tests tessera
