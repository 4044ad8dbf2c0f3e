# EVOLVE-BLOCK-START
"""A small pipeline-configuration problem in the shape of OpenEvolve's k_module_problem.

Four modules each take one of five options, given here by index. The evaluator only says
how many modules are right, never which.
"""


def configure_pipeline():
    """The option index (0-4) of each module of the pipeline."""
    config = {
        "loader": 1,
        "preprocess": 0,
        "algorithm": 2,
        "formatter": 4,
    }
    return config


# EVOLVE-BLOCK-END


def run_pipeline():
    """Entry point of the evaluator."""
    return configure_pipeline()
