"""ChipShift app: navigation only. Run with `./dev app` (history scenario on http://127.0.0.1:8501)."""

import streamlit as st

st.set_page_config(page_title="ChipShift", page_icon=":material/memory:", layout="wide")


def grid_results() -> None:
    from sim.ui import grid_results as page

    page.render()


explore = st.Page("sim/ui/pages/explore.py", title="Explore", icon=":material/tune:", url_path="explore")


def home() -> None:
    """The app's root address opens Explore at its own path (/explore), keeping the link's settings."""
    st.switch_page(explore, query_params=[(k, v) for k in st.query_params for v in st.query_params.get_all(k)])


st.navigation([
    st.Page(home, title="ChipShift", url_path="home", default=True, visibility="hidden"),
    explore,
    st.Page("sim/ui/pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("sim/ui/pages/buyers.py", title="Buyers", icon=":material/shopping_cart:", url_path="buyers"),
    st.Page("sim/ui/pages/teach.py", title="Teach", icon=":material/school:", url_path="teach"),
    st.Page("sim/ui/pages/model.py", title="Model", icon=":material/description:", url_path="model"),
    st.Page(grid_results, title="Grid results", icon=":material/grid_on:", url_path="grid-results"),
    st.Page("sim/ui/pages/analysis.py", title="Analysis", icon=":material/insights:", url_path="analysis"),
], position="top").run()
