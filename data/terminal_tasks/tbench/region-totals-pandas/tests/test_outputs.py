import pandas as pd


def test_report_matches_groupby():
    sales = pd.read_csv("/app/sales.csv")
    want = sales.groupby("region")["amount"].sum().sort_values(ascending=False).reset_index()
    got = pd.read_csv("/app/report.csv")
    assert list(got.columns) == ["region", "total"]
    assert got["region"].tolist() == want["region"].tolist()
    assert got["total"].tolist() == want["amount"].tolist()
