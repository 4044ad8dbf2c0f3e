"""The live web view of runs (``evoforge serve``); needs the ``web`` extra.

Only :mod:`evoforge.web.app` imports the web framework; the rest is plain Python.
"""
