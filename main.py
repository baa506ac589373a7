"""The functions-framework entry point: `functions-framework --target wukong` (see the README).

Thin on purpose: routing, statuses and logging live in wukong_core.endpoints.app. This module
is the process that serves, so it owns what the process keeps between requests: one App.
"""

import functions_framework
from werkzeug.exceptions import HTTPException

from wukong_core.endpoints import app as api

api.configure_logging()
INSTANCE = api.App()


@functions_framework.http
def wukong(request):  # type: ignore[no-untyped-def]
    return INSTANCE.handle(request)


# The framework answers /favicon.ico and /robots.txt itself, in HTML; keep every error JSON.
@functions_framework.errorhandler(HTTPException)
def framework_error(error: HTTPException):  # type: ignore[no-untyped-def]
    return api.framework_error(error.code or 500, error.description or error.name)
