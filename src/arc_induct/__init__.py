"""arc_induct: solve ARC-AGI tasks by program induction.

Data path: tasks -> prompts -> router -> execution -> transduction -> voting -> submission.
"""

__version__ = "0.1.0"
