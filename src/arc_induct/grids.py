"""The one definition of a valid ARC grid, used by loading, execution, voting and submission.

Standard library only: the execution zygote imports it, and every module the zygote loads is
copied (page tables and all) into each of the thousands of processes it forks.
"""

from __future__ import annotations

from typing import Any

Grid = list[list[int]]

MAX_SIDE = 30


def grid_fault(grid: Any) -> str | None:
    """Return why `grid` is not a valid ARC grid, or None when it is.

    Valid: a non-empty list of equally long non-empty lists, each side 1..30, every cell an
    int 0..9. Bools are refused even though `True == 1`: a bool grid is a program bug.
    """
    if not isinstance(grid, list):
        return f"grid is {type(grid).__name__}, not a list of rows"
    if not 1 <= len(grid) <= MAX_SIDE:
        return f"grid has {len(grid)} rows (allowed 1..{MAX_SIDE})"
    width = None
    for r, row in enumerate(grid):
        if not isinstance(row, list):
            return f"row {r} is {type(row).__name__}, not a list"
        if width is None:
            width = len(row)
            if not 1 <= width <= MAX_SIDE:
                return f"grid has {width} columns (allowed 1..{MAX_SIDE})"
        elif len(row) != width:
            return f"ragged grid: row {r} has {len(row)} cells, row 0 has {width}"
        for c, v in enumerate(row):
            if type(v) is not int:  # exact type: excludes bool and numpy scalars
                return f"cell ({r},{c}) is {type(v).__name__} {v!r}, not an int"
            if not 0 <= v <= 9:
                return f"cell ({r},{c}) is {v} (allowed 0..9)"
    return None
