"""The browser app's pages and helpers (Streamlit). Only this sub-package and app.py import streamlit.

Modules without a streamlit import (``settings``, ``ensemble``, ``teach_content``) hold the logic and are
unit-tested directly; the page modules are thin.
"""
