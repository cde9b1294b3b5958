"""Client factories that drive a `Receiver` through each framework adapter (see receiving.py)."""
