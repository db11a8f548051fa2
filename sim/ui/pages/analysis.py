"""Page file registered in app.py (kept as a file so that tests can switch to it)."""

from sim.ui import analysis_page as page

page.render()
