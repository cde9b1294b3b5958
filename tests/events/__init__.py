"""Tests of the typed event models and their parsers."""
