"""P1's baseline: the smallest functions-framework app with Wukong's logging handler.

What any function that logs like Wukong (google-cloud-logging `StructuredLogHandler` on the root
logger) pays before it can answer: the framework, Flask, gunicorn and the handler's import.
"""

import logging

import functions_framework
from google.cloud.logging_v2.handlers import StructuredLogHandler

logging.getLogger().addHandler(StructuredLogHandler())
logging.getLogger().setLevel(logging.INFO)


@functions_framework.http
def app(request):  # type: ignore[no-untyped-def]
    return {"status": "ok"}
