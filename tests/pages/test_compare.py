from tests.pages.helpers import app, no_errors, scored_run


def test_compare_page_puts_runs_side_by_side(svc):
    first = scored_run(svc, epochs=1)
    second = scored_run(svc, epochs=2)
    at = app("pages/compare.py")
    no_errors(at)
    table = at.dataframe[0].value
    assert sorted(table["run"].tolist()) == [first, second]
    assert "set epochs" in table.columns and "auroc" in table.columns
