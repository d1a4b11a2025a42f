"""The one line a failed start shows: Node's error, not the version line it ends a crash with."""

from __future__ import annotations

import pytest

from harness.servers.base import telling_line

MISSING_MODULE = """node:internal/modules/cjs/loader:1228
  throw err;
  ^

Error: Cannot find module 'express'
Require stack:
- /home/u/app/server.js
    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15) {
  code: 'MODULE_NOT_FOUND',
}

Node.js v20.20.2
"""
SYNTAX = "/home/u/app/server.js:3\n}}\n^\n\nSyntaxError: Unexpected token '}'\n    at wrapSafe\n\nNode.js v20.20.2\n"


@pytest.mark.parametrize(
    "log, line",
    [
        (MISSING_MODULE, "Error: Cannot find module 'express'"),
        (SYNTAX, "SyntaxError: Unexpected token '}'"),
        ("listening on 3000\nbye\n", "bye"),  # no error line: the last line, as before
        ("", "(empty log)"),
    ],
)
def test_the_line_that_says_why(log: str, line: str):
    assert telling_line(log) == line
