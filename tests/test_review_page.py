"""The review page in headless Chromium driven by Selenium (chromium-driver): keys, reload,
bulk decisions, two browsers at once, hostile names as text, pictures only by post id, tokens."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from curation.decisions import read as read_decisions
from curation.errors import CurationError
from curation.review import create_app, serve
from curation.select import select

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("CURATE_TEST_ARTIFACTS", ROOT / "test-artifacts"))
HOSTILE = '<img src=x onerror="document.title=1">'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The app on a loopback port in a thread of this process (uvicorn), stopped after."""

    def __init__(self, ws: Path, token: str | None = None) -> None:
        import uvicorn

        self.port = _free_port()
        config = uvicorn.Config(create_app(ws, "tester", token), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def _browser():
    if not shutil.which("chromedriver") or not (shutil.which("chromium") or shutil.which("chromium-browser")):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are not installed (.ci/run installs them)")
        pytest.skip("headless Chromium and chromedriver not installed here (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


@pytest.fixture()
def review_ws(built_ws, tmp_path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(built_ws, ws, ignore=shutil.ignore_patterns(".curate.lock", "decisions.sqlite*"))
    con = duckdb.connect(str(ws / "catalog.duckdb"))
    post = con.execute("SELECT post_id FROM suggestions ORDER BY rank LIMIT 1").fetchall()[0][0]
    # a hostile tag name at the end of the queue: it must render as text
    con.execute(
        "INSERT INTO suggestions SELECT max(rank) + 1, ?, ?, 'general', 'add', 0.51, 0.51, 0.5, [] FROM suggestions",
        [post, HOSTILE],
    )
    con.close()
    return ws


def _wait(driver, condition, timeout=10.0):
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    ignored = (NoSuchElementException, StaleElementReferenceException)  # the page re-renders under us
    return WebDriverWait(driver, timeout, ignored_exceptions=ignored).until(lambda d: condition(d))


def _card(driver) -> tuple[int, str, str]:
    element = driver.find_element("id", "card")
    return int(element.get_attribute("data-post-id")), element.get_attribute("data-tag"), element.get_attribute("data-action")


def _press(driver, key: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()


@pytest.mark.slow
def test_keys_decide_and_decisions_survive_a_reload(review_ws):
    server, driver = Server(review_ws), _browser()
    try:
        driver.get(server.url)
        _wait(driver, lambda d: d.find_element("id", "card").get_attribute("data-post-id"))
        first = _card(driver)
        _press(driver, "a")
        _wait(driver, lambda d: _card(d) != first)
        second = _card(driver)
        _press(driver, "r")
        _wait(driver, lambda d: _card(d) != second)
        third = _card(driver)
        _press(driver, "s")  # skip: no decision
        _wait(driver, lambda d: _card(d) != third)
        _press(driver, "u")  # undo the reject of the second card
        _wait(driver, lambda d: _card(d) == second)
        _press(driver, "r")
        _wait(driver, lambda d: _card(d) != second)
        driver.refresh()
        _wait(driver, lambda d: d.find_element("id", "card").get_attribute("data-post-id"))
        assert _card(driver) not in (first, second)  # both decided: not in the open queue any more
        decided = {r[:4] for r in read_decisions(review_ws)}
        assert decided == {(*first, "accept"), (*second, "reject")}
        rates = driver.find_element("id", "rates").text
        assert first[1] in rates
        select(review_ws)  # the next stage that writes the catalog brings the decisions in
        con = duckdb.connect(str(review_ws / "catalog.duckdb"), read_only=True)
        in_catalog = set(con.execute("SELECT post_id, tag, action, decision FROM decisions").fetchall())
        con.close()
        assert in_catalog == decided
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "review.png"))
    finally:
        driver.quit()
        server.stop()


@pytest.mark.slow
def test_bulk_decision_with_confirmation(review_ws):
    server, driver = Server(review_ws), _browser()
    try:
        driver.get(server.url)
        _wait(driver, lambda d: d.find_element("id", "card").get_attribute("data-post-id"))
        post, tag, action = _card(driver)
        con = duckdb.connect(str(review_ws / "catalog.duckdb"), read_only=True)
        p = con.execute(
            "SELECT precision_estimate FROM suggestions WHERE post_id = ? AND tag = ? AND action = ?", [post, tag, action]
        ).fetchall()[0][0]
        expected = {
            (r[0], tag, action)
            for r in con.execute(
                "SELECT post_id FROM suggestions WHERE tag = ? AND action = ? AND precision_estimate >= ?", [tag, action, p]
            ).fetchall()
        }
        con.close()
        driver.find_element("css selector", "button.bulk-accept").click()
        from selenium.webdriver.support import expected_conditions

        _wait(driver, expected_conditions.alert_is_present())
        assert f"accept {len(expected)} open suggestions" in driver.switch_to.alert.text
        driver.switch_to.alert.accept()
        _wait(driver, lambda d: "decisions recorded" in d.find_element("id", "status").text)
        decided = {r[:3] for r in read_decisions(review_ws) if r[3] == "accept"}
        assert decided == expected
        assert all(r[6].startswith("bulk: ") for r in read_decisions(review_ws))
    finally:
        driver.quit()
        server.stop()


@pytest.mark.slow
def test_two_browsers_deciding_at_once_lose_nothing(review_ws):
    server = Server(review_ws)
    drivers = [_browser(), _browser()]
    try:
        for driver, state in zip(drivers, ("open", "open")):
            driver.get(server.url + f"?state={state}")
        for driver in drivers:
            _wait(driver, lambda d: d.find_element("id", "card").get_attribute("data-post-id"))
        for driver, action in zip(drivers, ("add", "remove")):  # one works on additions, the other on removals
            driver.find_element("name", "action").send_keys(action)
            driver.find_element("css selector", "form button").click()
            _wait(driver, lambda d, a=action: _card(d)[2] == a)
        con = duckdb.connect(str(review_ws / "catalog.duckdb"), read_only=True)
        # each browser keeps a card to move on to: one fewer than the suggestions of its action
        rounds = min(5, *(n - 1 for (n,) in con.execute("SELECT count(*) FROM suggestions GROUP BY action").fetchall()))
        con.close()
        assert rounds >= 2
        seen: list[tuple] = []
        for _ in range(rounds):  # alternate key presses in both browsers
            for driver, key in zip(drivers, ("a", "r")):
                before = _card(driver)
                seen.append((*before, "accept" if key == "a" else "reject"))
                _press(driver, key)
                _wait(driver, lambda d, b=before: _card(d) != b)
        assert {r[:4] for r in read_decisions(review_ws)} == set(seen)
    finally:
        for driver in drivers:
            driver.quit()
        server.stop()


@pytest.mark.slow
def test_a_hostile_tag_renders_as_text(review_ws):
    server, driver = Server(review_ws), _browser()
    try:
        driver.get(server.url + "?")
        _wait(driver, lambda d: d.find_element("id", "card").get_attribute("data-post-id"))
        driver.find_element("name", "tag").send_keys(HOSTILE)
        driver.find_element("css selector", "form button").click()
        _wait(driver, lambda d: _card(d)[1] == HOSTILE)
        assert driver.find_element("css selector", "#card .tagname").text == HOSTILE
        assert not driver.find_elements("css selector", "#card img[src='x']")  # not markup
        assert driver.title == "booru-curate review"  # no script ran
    finally:
        driver.quit()
        server.stop()


def test_pictures_only_by_catalog_post_id_and_tokens(review_ws):
    server = Server(review_ws)
    try:
        for path in ("api/image/999999999", "api/image/..%2F..%2Fcurate.toml", "static/..%2Fserver.py", "static/nope.js"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(server.url + path)
            assert err.value.code in (404, 422), path
        con = duckdb.connect(str(review_ws / "catalog.duckdb"), read_only=True)
        post = con.execute("SELECT post_id FROM images WHERE status = 'ok' LIMIT 1").fetchall()[0][0]
        con.close()
        assert urllib.request.urlopen(server.url + f"api/image/{post}").status == 200
    finally:
        server.stop()
    guarded = Server(review_ws, token="s3cret")
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(guarded.url + "api/queue")
        assert err.value.code == 401
        assert urllib.request.urlopen(guarded.url + "api/queue?token=s3cret").status == 200
    finally:
        guarded.stop()
    with pytest.raises(CurationError, match="not a loopback address"):
        serve(review_ws, "0.0.0.0", _free_port(), "m", None)


@pytest.mark.slow
def test_duplicate_verdicts_on_the_page_are_honoured_by_the_next_dedupe(review_ws):
    from curation.dedupe import run_dedupe

    con = duckdb.connect(str(review_ws / "catalog.duckdb"), read_only=True)
    before = dict(con.execute("SELECT post_id, group_id FROM dup_groups").fetchall())
    con.close()
    server, driver = Server(review_ws), _browser()
    try:
        driver.get(server.url + "duplicates")
        _wait(driver, lambda d: d.find_elements("css selector", ".group"))
        groups = driver.find_elements("css selector", ".group")
        first, second = groups[0], groups[1]
        leaving = int(first.find_elements("css selector", ".member")[1].get_attribute("data-post-id"))
        first.find_element("css selector", "button.not-duplicate").click()
        _wait(driver, lambda d: "marked: not a duplicate" in d.find_elements("css selector", ".group")[0].text)
        second = driver.find_elements("css selector", ".group")[1]
        chosen = int(second.find_elements("css selector", ".member")[1].get_attribute("data-post-id"))
        second.find_element("css selector", "button.make-representative").click()
        _wait(driver, lambda d: "chosen as representative" in d.find_elements("css selector", ".group")[1].text)
    finally:
        driver.quit()
        server.stop()
    run_dedupe(review_ws)
    con = duckdb.connect(str(review_ws / "catalog.duckdb"), read_only=True)
    after = {p: (g, r) for p, g, r in con.execute("SELECT post_id, group_id, is_representative FROM dup_groups").fetchall()}
    con.close()
    old_group = before[leaving]
    assert leaving not in after or after[leaving][0] != after.get(old_group, (None,))[0]
    assert after[chosen] == (chosen, True)


def test_a_card_shows_its_nearest_labelled_neighbours(review_ws):
    from curation.review import ReviewData

    data = ReviewData(review_ws)
    card = data.page(data_filter(), 0, 1)["cards"][0]
    found = data.neighbours(card["post_id"], card["tag"])
    assert len(found) == 5 and all(n["post_id"] != card["post_id"] for n in found)
    assert [n["similarity"] for n in found] == sorted((n["similarity"] for n in found), reverse=True)
    members = {m["post_id"] for m in card["group"]}
    assert not members & {n["post_id"] for n in found}  # its duplicates are not "neighbours"
    con = duckdb.connect(str(review_ws / "catalog.duckdb"), read_only=True)
    for n in found:
        has = con.execute(
            "SELECT count(*) FROM post_tags JOIN tags USING (tag_id) WHERE post_id = ? AND name = ?", [n["post_id"], card["tag"]]
        ).fetchall()[0][0]
        assert n["has_tag"] == bool(has)
    con.close()


def data_filter():
    from curation.review import QueueFilter

    return QueueFilter()
