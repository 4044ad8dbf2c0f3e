"""A stand-in ``openevolve`` package for sandboxed OpenEvolve evaluators.

``runner.py`` appends this directory to ``sys.path`` only when the real ``openevolve`` is
not importable, so evaluators doing ``from openevolve.evaluation_result import
EvaluationResult`` run unchanged. Nothing in evoforge imports it.
"""
