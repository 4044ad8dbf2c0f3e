"""Language models over OpenAI-compatible endpoints.

``records`` (plain data) is importable anywhere; ``client`` is the one module that
imports the ``openai`` SDK, and ``router`` picks among several models. ``oracle`` is an
offline stand-in model served over HTTP. Nothing here is imported by ``import evoforge``.
"""
