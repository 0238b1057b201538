"""Runs pytest on the modules given as arguments (the Bazel `py_test` entry point)."""

import sys

import pytest

if __name__ == "__main__":
    sys.exit(pytest.main(sys.argv[1:]))
