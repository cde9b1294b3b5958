"""The tests' RQ workers' settings module (``rq worker -c tests.rq_settings``).

RQ imports it in the worker's main process as it starts, before forking a work horse per job:
like a user's module, importing it creates the `RQDefer` and attaches its receivers, so every
job finds them.
"""

from tests.queues import worker_defer

worker_defer()
