import pytest

from arc_induct.grids import grid_fault


@pytest.mark.parametrize("grid", [[[0]], [[9] * 30] * 30, [[1, 2], [3, 4]]])
def test_valid_grids_have_no_fault(grid):
    assert grid_fault(grid) is None


@pytest.mark.parametrize("grid, fault", [
    (((1,),), "grid is tuple"), ("abc", "not a list"), ([], "0 rows"), ([[1]] * 31, "31 rows"), ([[]], "0 columns"),
    ([[1] * 31], "31 columns"), ([[1, 2], [3]], "ragged grid: row 1 has 1 cells"), ([(1,)], "row 0 is tuple"),
    ([[True]], "cell (0,0) is bool"), ([[1.0]], "is float"), ([[10]], "is 10 (allowed 0..9)"), ([[-1]], "is -1"),
])
def test_each_fault_is_named(grid, fault):
    assert fault in grid_fault(grid)


def test_numpy_scalars_are_not_ints():
    np = pytest.importorskip("numpy")
    assert "int64" in grid_fault([[np.int64(1)]])
