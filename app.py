"""The deepad dashboard: a router over the pages in pages/ (run with `streamlit run app.py`)."""

import streamlit as st

from pages.components.state import reconcile_once, restore_selection, warm_up_once

st.set_page_config(page_title="deepad", page_icon="🔎", layout="wide")
navigation = st.navigation(
    [
        st.Page("pages/data.py", title="Data", icon="📂", default=True),
        st.Page("pages/train.py", title="Train", icon="⚙️"),
        st.Page("pages/runs.py", title="Runs", icon="⏱️"),
        st.Page("pages/inspect.py", title="Inspect", icon="🔍"),
        st.Page("pages/use.py", title="Use", icon="🚀"),
        st.Page("pages/compare.py", title="Compare", icon="📊"),
        st.Page("pages/explain.py", title="Explain", icon="💡"),
    ]
)
# after the navigation, so a home whose run store cannot be opened (they stop the page with
# its message) still shows the dashboard's pages
reconcile_once()
warm_up_once()
restore_selection()
navigation.run()
