"""Receive all five providers in one Google Cloud Function, at ``POST /webhooks/<provider>``.

Run it locally under functions-framework, the server Cloud Functions use, from the repository
root::

    functions-framework --target webhook --source examples/gcf_app.py --port 8080

and deploy the ``examples`` folder (this file as ``main.py``, with ``common.py`` beside it and a
``requirements.txt`` naming ``webhook-kit[gcf,redis]``)::

    gcloud functions deploy webhooks --gen2 --runtime python312 --trigger-http \\
        --entry-point webhook --allow-unauthenticated --source examples

An instance imports the module once (the cold start): the receivers and their store below are
built then, and every request it serves reuses them. Secrets and the store come from the
environment (see ``common.py``): on Cloud Functions, set ``WEBHOOK_KIT_STORE`` to a ``redis://``
URL or a SQL database that every instance shares.
"""

from __future__ import annotations

import logging

from webhook_kit.gcf import webhook_function

if __package__:  # functions-framework loads the file as a package of its own folder
    from .common import make_receivers
else:  # imported as gcf_app, with examples/ on sys.path
    from common import make_receivers

logging.basicConfig(
    level=logging.INFO,
    format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s",
)

# Built at import, once per instance: the receivers, their store and its connections.
webhook = webhook_function(make_receivers())
