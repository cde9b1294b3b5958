"""The source file functions-framework loads for the gcf test client, as it loads ``main.py``."""

from tests.clients.gcf import building

webhook = building()
