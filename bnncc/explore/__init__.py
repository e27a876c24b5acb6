"""``bnncc explore``: design-space exploration over targets, boards, foldings and MST.

``space`` lists the configurations, ``evaluate`` scores one with the analytic
estimators (and re-checks one on the exact path), ``pareto`` keeps the non-dominated
ones under the constraints, ``runner`` runs the tasks (in-process, process pool or
Dask) with a disk cache and assembles explore.json; ``html`` draws the report.
"""

from .runner import explore

__all__ = ["explore"]
