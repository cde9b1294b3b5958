"""Receive all five providers in one AWS Lambda function, at ``POST /webhooks/<provider>``.

Deploy this file with ``common.py`` beside it and the handler setting
``aws_lambda_app.handler``, behind an API Gateway REST or HTTP API (a ``/webhooks/{provider}``
route), a Function URL or a load balancer target group. Lambda imports the module once per
container (the cold start): the receivers and their store below are built then, and every
invocation the container serves reuses them.

Secrets and the store come from the environment (see ``common.py``): set ``WEBHOOK_KIT_STORE`` to
a ``redis://`` URL or a SQL database, which every container shares. The SQLite default lives in
one container's ``/tmp`` only, so it is for trying the handler locally::

    python examples/aws_lambda_app.py    # one signed delivery through each event shape
"""

from __future__ import annotations

import base64
import json
import logging
import os

from webhook_kit.aws_lambda import webhook_handler

if __package__:  # handler string examples.aws_lambda_app.handler, from the repository root
    from .common import DEV_SECRETS, make_receivers
else:  # aws_lambda_app.handler, with common.py beside it (a deployment package)
    from common import DEV_SECRETS, make_receivers

logging.getLogger().setLevel(logging.INFO)  # Lambda's runtime has a handler; set the level

# Built at import, once per container: the receivers, their store and its connections.
handler = webhook_handler(make_receivers())


def _try_it() -> None:
    """Send one signed delivery as each AWS caller would, and print what the handler answers."""
    from webhook_kit import testing

    secret = os.environ.get("STRUKTR_WEBHOOK_SECRET") or DEV_SECRETS["struktr"]
    body, headers = testing.signed_delivery("struktr", secret, "document.completed")
    path = "/webhooks/struktr"
    rest_api = {  # API Gateway REST API with binary media types */*: base64, as sent
        "httpMethod": "POST",
        "path": path,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    http_api = {  # HTTP API or Function URL (payload format 2.0): a JSON body arrives as text
        "version": "2.0",
        "rawPath": path,
        "requestContext": {"http": {"method": "POST", "path": path}},
        "headers": {name.lower(): value for name, value in headers.items()},
        "body": body.decode(),
        "isBase64Encoded": False,
    }
    load_balancer = {  # an Application Load Balancer target group
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:..."}},
        "httpMethod": "POST",
        "path": path,
        "headers": {name.lower(): value for name, value in headers.items()},
        "body": body.decode(),
        "isBase64Encoded": False,
    }
    for name, event in [("REST API", rest_api), ("HTTP API", http_api), ("ALB", load_balancer)]:
        print(f"{name}: {json.dumps(handler(event, None))}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)  # locally: print the log lines
    _try_it()
