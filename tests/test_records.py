"""The shared vocabulary: result rows are checked against the one results schema."""

import pytest

from scale_or_reason.records import RESULTS_COLUMNS, RESULTS_REQUIRED, result_row


def test_result_rows_have_exactly_the_schema_columns_in_its_order():
    values = {c: 0 for c in reversed(list(RESULTS_COLUMNS))}
    assert list(result_row(**values)) == list(RESULTS_COLUMNS)
    assert list(result_row(**values, seed=2))[-1] == "seed"
    with pytest.raises(ValueError, match=r"unknown column\(s\) \['acc'\]"):
        result_row(**values, acc=0.5)
    values.pop("baseline")
    with pytest.raises(ValueError, match=r"missing \['baseline'\]"):
        result_row(**values)
    assert set(RESULTS_REQUIRED) <= set(RESULTS_COLUMNS)
