"""First paint of one dashboard page, for ``deepad bench pages`` (which runs this file in a
fresh process, so every page starts with cold caches and deepad itself never imports
streamlit). Argument: JSON ``[page path, session state, settled]``; prints JSON
``{seconds, errors}``. With ``settled`` the page is timed once what the app loads in the
background at start (scikit-learn) is loaded, as when a user opens it after the first page;
without, right after the first page, imports included."""

import json
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def render(path: str, values: dict) -> tuple[float, list[str]]:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in values.items():
        at.session_state[key] = value
    at.run()
    if path != "pages/data.py":
        at.switch_page(path)
        start = time.perf_counter()
        at.run()
        return time.perf_counter() - start, [e.message for e in at.exception]
    return 0.0, []


if __name__ == "__main__":
    page, state, settled = json.loads(sys.argv[1])
    render("pages/data.py", {})
    if settled:
        from deepad import metrics

        metrics.preload().join()
    seconds, errors = render(page, state)
    print(json.dumps({"seconds": seconds, "errors": errors}))
