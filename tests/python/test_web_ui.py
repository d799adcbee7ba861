"""The web UI in a real browser: Debian's chromium driven by Playwright, against `ampora serve`
with WebSocket agents (test_rollouts.Agent). Each flow leaves a PNG screenshot under
.build/test-output/ui, and each page is checked with axe-core for serious or critical
accessibility violations."""
import asyncio
import os
import pathlib
import shutil
import threading
import uuid

import pytest
import websockets

from conftest import ADMIN_TOKEN, ROOT
from test_agent_resources import CAPABILITY, custom, first_message
from test_fleet import Server, api, wait_for
from test_gateway import S, exchange
from test_rollouts import BASE, Agent, Fleet, variant

playwright_api = pytest.importorskip("playwright.sync_api")
axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")

SHOTS = ROOT / ".build" / "test-output" / "ui"
CHROMIUM = os.environ.get("AMPORA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
AGENTS = 200
EVIL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 1">'
BROKEN = BASE.replace(b"exporters: [debug]", b"exporters: [nope]").decode()

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/bootstrap.sh --test)")


class PlantedAgent(Agent):
    """An agent whose attributes carry markup, and one findable by its host name."""

    def __init__(self, server, env, host, extra=None):
        super().__init__(server, env)
        self.host = host
        self.extra = extra or {}

    def message(self):
        m = super().message()
        if m.sequence_num == 0:
            m.agent_description.identifying_attributes.add(key="host.name").value.string_value = self.host
            m.effective_config.config_map.config_map["collector.yaml"].body = BASE
            for key, value in self.extra.items():
                m.agent_description.non_identifying_attributes.add(key=key).value.string_value = value
        return m


class PlantedFleet(Fleet):
    """test_rollouts.Fleet of PlantedAgents: web-000 … web-199, four of them canaries."""

    def __init__(self, server):
        import asyncio
        import threading
        envs = ["canary"] * 4 + ["prod"] * (AGENTS - 4)
        self.agents = [
            PlantedAgent(server, env, f"web-{i:03d}", {"note": EVIL} if i == 7 else {EVIL: "x"} if i == 8 else None)
            for i, env in enumerate(envs)]
        self.loop = asyncio.new_event_loop()
        self.stop_event = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()
        self.thread.start()
        assert self.ready.wait(30)


class ChattyAgent:
    """An agent that reports its available components, announces CAPABILITY, sends one custom
    message and keeps the custom messages it is sent, on its own event loop thread."""

    def __init__(self, server):
        self.server = server
        self.uid = os.urandom(16)
        self.text = str(uuid.UUID(bytes=self.uid))
        self.received = []
        self.loop = asyncio.new_event_loop()
        self.stop = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def main():
            self.stop = asyncio.Event()
            async with websockets.connect(self.server.ws_url, max_size=None) as ws:
                await exchange(ws, first_message(self.uid, name="chatty"))
                await exchange(ws, custom(self.uid, 2, CAPABILITY, "greeting", b"hello <b>operator</b>"))
                self.ready.set()
                while not self.stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.2)
                    except asyncio.TimeoutError:
                        continue
                    reply = S()
                    reply.ParseFromString(raw[1:])
                    if reply.HasField("custom_message"):
                        c = reply.custom_message
                        self.received.append((c.capability, c.type, c.data))

        self.loop.run_until_complete(main())

    def close(self):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)


@pytest.fixture(scope="module")
def rig():
    SHOTS.mkdir(parents=True, exist_ok=True)
    server = Server("--config-apply-timeout", "2", "--custom-capability", CAPABILITY)
    fleet = PlantedFleet(server)
    status, viewer = api(server, "POST", "/api/v1/access-tokens", {"role": "viewer", "name": "watcher"})
    assert status == 201, viewer
    status, operator = api(server, "POST", "/api/v1/access-tokens", {"role": "operator", "name": "hands"})
    assert status == 201, operator
    pw = playwright_api.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
    try:
        yield {"server": server, "fleet": fleet, "browser": browser, "viewer": viewer["token"],
               "operator": operator["token"]}
    finally:
        browser.close()
        pw.stop()
        fleet.close()
        assert server.stop() == 0


def base_url(rig):
    return f"http://127.0.0.1:{rig['server'].http_port}"


def new_page(rig, width=1280, height=800, script=True):
    # bypass_csp: the script-injection checks below test the escaping itself, not the
    # Content-Security-Policy that would also stop it; axe-core needs it to be injected.
    context = rig["browser"].new_context(viewport={"width": width, "height": height}, bypass_csp=True,
                                         java_script_enabled=script)
    page = context.new_page()
    page.set_default_timeout(10000)
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def sign_in(page, rig, token=ADMIN_TOKEN, path="/"):
    page.goto(base_url(rig) + path)
    assert "/login" in page.url, page.url
    page.get_by_label("Personal access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def shot(page, name):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def accessible(page, what):
    results = axe_module.Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{what}: " + "; ".join(f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in bad)


def pwned(page):
    return page.evaluate("window.__pwned === 1")


def test_sign_in_find_an_agent_by_attribute_and_open_it(rig):
    server = rig["server"]
    status, _ = api(server, "PUT", "/api/v1/configs/base", BASE, {"Content-Type": "text/yaml"})
    assert status == 200
    status, _ = api(server, "POST", "/api/v1/assignments", {"config": "base", "selector": {}})
    assert status == 201
    wait_for(lambda: all(a.applied for a in rig["fleet"].agents), what="every agent to apply the base config")

    page = new_page(rig)
    page.goto(base_url(rig) + "/agents")
    assert "/login?next=%2Fagents" in page.url
    accessible(page, "login")
    shot(page, "01-login")
    page.get_by_label("Personal access token").fill("amp_wrong")
    page.get_by_role("button", name="Sign in").click()
    assert "not known" in page.locator(".notice.error").inner_text()
    page.get_by_label("Personal access token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/agents")

    page.goto(base_url(rig) + "/")
    assert page.locator(".tiles .tile").first.inner_text().startswith(str(AGENTS))
    accessible(page, "overview")
    shot(page, "02-overview")

    page.goto(base_url(rig) + "/agents")
    page.get_by_label("Attributes", exact=True).fill("host.name=web-012")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**attributes=host.name%3Dweb-012*")
    assert page.locator("p.count strong").inner_text() == "1"
    accessible(page, "agents")
    shot(page, "03-agents-filtered")
    page.get_by_role("link", name="web-012").click()
    page.wait_for_url("**/agents/*")
    assert page.locator("h1").inner_text() == "web-012"
    assert "healthy" in page.locator("section:has(h2:text('Health'))").inner_text()
    graph = page.locator("img.graph")
    assert graph.get_attribute("src").endswith("/graph.svg")
    wait_for(lambda: page.evaluate("document.querySelector('img.graph').naturalWidth") > 0, what="the graph to load")
    # The effective config with line numbers where the API has the endpoint, else a note.
    effective = page.locator("[data-effective-config]")
    wait_for(lambda: "Loading" not in effective.inner_text(), what="the effective config to load")
    text = effective.inner_text()
    assert "service:" in text or "does not show effective configs" in text, text
    accessible(page, "agent")
    shot(page, "04-agent")
    # An action goes to the API with the session's CSRF token.
    page.get_by_role("button", name="Reconcile").click()
    page.wait_for_selector("#toast:text('Reconcile: done.')")
    # A change made elsewhere reaches the open page through the event stream.
    uid = page.locator("#agent-status code").inner_text()
    status, _ = api(rig["server"], "POST", f"/api/v1/agents/{uid}/disconnect", b"")
    assert status == 202
    page.wait_for_selector("#agent-status .pill:text('disconnected')", timeout=15000)
    assert "disconnected" in page.locator("#history").inner_text()

    # Usable at phone width too.
    phone = new_page(rig, 390, 844)
    sign_in(phone, rig, path="/agents")
    shot(phone, "05-agents-phone")


def test_markup_in_attributes_and_names_does_not_run(rig):
    page = new_page(rig)
    sign_in(page, rig, path="/agents?columns=attributes,service&search=web-00")
    assert EVIL in page.locator("table.agents").inner_text()
    page.get_by_role("link", name="web-007").click()
    page.wait_for_url("**/agents/*")
    assert EVIL in page.locator("table.kvs").inner_text()
    assert not pwned(page)
    page.goto(base_url(rig) + "/configs/" + EVIL.replace("/", "%2F").replace(" ", "%20"))
    assert not pwned(page)
    shot(page, "06-escaped")


def test_editor_shows_a_finding_at_its_line_then_publishes(rig):
    page = new_page(rig)
    sign_in(page, rig, path="/configs")
    page.get_by_role("textbox", name="New config").fill("edge")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url("**/configs/edge")
    editor = page.get_by_label("Config (YAML)")
    editor.fill(BROKEN)
    line = BROKEN.split("\n").index("      exporters: [nope]") + 1
    page.wait_for_selector(f"[data-findings] li.error:has-text('Line {line}:')")
    finding = page.locator("[data-findings] li.error").first.inner_text()
    assert f"Line {line}:" in finding, finding
    assert "error" in (page.locator("[data-gutter] li").nth(line - 1).get_attribute("class") or "")
    accessible(page, "config editor")
    shot(page, "07-editor-finding")
    editor.fill(BASE.decode())
    page.wait_for_function("""() => {
        const text = document.querySelector('[data-lint-status]').textContent;
        return text === 'No findings.' || text.startsWith('0 errors');
    }""")
    page.get_by_label("Message").fill("first version")
    page.get_by_role("button", name="Save and publish").click()
    page.wait_for_url("**/configs/edge?version=1")
    assert "published" in page.locator("table").first.inner_text()
    # A draft of a second version, compared with the first, then published from the list.
    editor.fill(BASE.decode().replace("exporters:\n", "processors:\n  batch: {}\nexporters:\n", 1)
                .replace("      exporters: [debug]", "      processors: [batch]\n      exporters: [debug]"))
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url("**/configs/edge?version=2")
    page.get_by_label("Compare", exact=True).select_option("1")
    page.get_by_label("with", exact=True).select_option("2")
    page.get_by_role("button", name="Diff").click()
    page.wait_for_url("**from=1&to=2*")
    assert "processors.batch" in page.locator("ul.diff").inner_text()
    page.get_by_role("button", name="Publish", exact=True).click()
    page.wait_for_function("document.querySelector('table tbody').textContent.includes('published')")
    shot(page, "08-published")


def test_a_5mb_paste_and_an_expired_session_keep_the_draft(rig):
    page = new_page(rig)
    sign_in(page, rig, path="/configs/big")
    page.evaluate("""() => {
        const area = document.querySelector('#config-body');
        // 5 MiB of 80-byte lines, as a pasted log or dump would be.
        area.value = ('# ' + 'x'.repeat(77) + '\\n').repeat(5 * 1024 * 1024 / 80);
        area.dispatchEvent(new Event('input'));
    }""")
    page.wait_for_function("document.querySelector('[data-lint-status]').textContent.startsWith('Too large')")
    assert page.locator("[data-gutter] li").count() == 20000, "the gutter stops at 20 000 lines"
    # Chromium's textarea is slow to edit at that size; the operator selects all and types over it.
    page.evaluate("""() => {
        const area = document.querySelector('#config-body');
        area.value = 'receivers: {}\\n# kept across sign-in\\n';
        area.dispatchEvent(new Event('input'));
    }""")
    editor = page.get_by_label("Config (YAML)")
    editor.press("End")
    editor.type("# typed\n")
    # The session ends (the cookies go) while the operator is still typing.
    page.context.clear_cookies()
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url("**/login?*")
    page.get_by_label("Personal access token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/configs/big")
    assert "kept across sign-in" in editor.input_value()
    assert page.locator("[data-draft-note]").is_visible()
    shot(page, "09-draft-restored")


def test_a_failing_canary_pauses_with_its_reason_and_rolls_back(rig):
    server = rig["server"]
    status, bad = api(server, "PUT", "/api/v1/configs/base", variant("FAIL"), {"Content-Type": "text/yaml"})
    assert status == 200, bad
    page = new_page(rig)
    sign_in(page, rig, path="/rollouts")
    page.get_by_label("Config", exact=True).select_option("base")
    page.get_by_label("Version").fill(str(bad["version"]))
    page.get_by_label("Selector", exact=True).fill("env=canary")
    page.wait_for_function("document.querySelector('[data-match-count]').textContent === 'Matching agents: 4'")
    page.get_by_label("Selector", exact=True).fill("")
    page.wait_for_function(f"document.querySelector('[data-match-count]').textContent === 'Matching agents: {AGENTS}'")
    page.get_by_label("Canary selector (optional)").fill("env=canary")
    page.get_by_label("Stages", exact=True).fill("100")
    page.get_by_label("Pause when failed exceed").fill("0")
    accessible(page, "rollouts")
    page.get_by_role("button", name="Start rollout").click()
    page.wait_for_url("**/rollouts/*")
    # The page follows the event stream: the pause and its reason appear without a reload.
    page.wait_for_selector("[data-reason]", timeout=20000)
    assert "failed" in page.locator("[data-reason]").inner_text()
    assert "Stage 1 (canary)" in page.locator("ol.stages").inner_text()
    assert "4 targets" in page.locator("ol.stages li").first.inner_text()
    accessible(page, "rollout")
    shot(page, "10-rollout-paused")
    page.get_by_role("button", name="Roll back").click()
    page.wait_for_function("document.querySelector('.sub').textContent.includes('rolls back')", timeout=20000)
    wait_for(lambda: "completed" in page.locator(".sub").inner_text(), timeout=20, what="the rollback to complete")
    shot(page, "11-rolled-back")


def test_a_viewer_cannot_start_a_rollout(rig):
    page = new_page(rig)
    sign_in(page, rig, token=rig["viewer"], path="/rollouts")
    assert page.locator("form[data-wizard]").count() == 0
    assert "needs the operator role" in page.locator("main").inner_text()
    assert page.locator("nav a[href='/tokens']").count() == 0
    status = page.evaluate("""async () => {
        const csrf = document.cookie.split('; ').find((c) => c.startsWith('ampora_csrf=')).slice(12);
        const r = await fetch('/api/v1/rollouts', {method: 'POST', headers: {'Content-Type': 'application/json',
            'X-CSRF-Token': csrf}, body: JSON.stringify({config: 'base', version: 1, target: {selector: {}}})});
        return r.status;
    }""")
    assert status == 403
    page.goto(base_url(rig) + "/tokens")
    assert "Not allowed" in page.locator("h1").inner_text()
    accessible(page, "forbidden")
    shot(page, "12-viewer")


def test_groups_tokens_and_audit_pages_in_the_dark(rig):
    context = rig["browser"].new_context(viewport={"width": 1280, "height": 800}, color_scheme="dark",
                                         bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(10000)
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, rig, path="/agents?attributes=env%3Dcanary")
    page.get_by_label("Save filter as group").fill("canaries")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url("**/agents?group=canaries")
    assert page.locator("p.count strong").inner_text() == "4"
    for path in ["/", "/agents", "/configs", "/configs/edge", "/rollouts", "/groups", "/audit", "/tokens",
                 "/enrollment"]:
        page.goto(base_url(rig) + path)
        accessible(page, f"{path} (dark)")
    page.goto(base_url(rig) + "/groups")
    assert "canaries" in page.locator("table").inner_text()
    page.goto(base_url(rig) + "/audit?action=group.put")
    assert page.locator("p.count strong").inner_text() == "1"
    page.goto(base_url(rig) + "/tokens")
    page.get_by_label("Name").fill("ci")
    page.get_by_role("button", name="Create token").click()
    page.wait_for_selector("[data-new-token]:not([hidden])")
    assert page.locator("[data-token-value]").inner_text().startswith("amp_")
    shot(page, "13-tokens-dark")


def test_wizard_starts_count_stages_with_a_stalled_gate(rig):
    server = rig["server"]
    status, good = api(server, "PUT", "/api/v1/configs/base", variant("COUNTED"), {"Content-Type": "text/yaml"})
    assert status == 200, good
    page = new_page(rig)
    sign_in(page, rig, path="/rollouts")
    page.get_by_label("Config", exact=True).select_option("base")
    page.get_by_label("Version").fill(str(good["version"]))
    page.get_by_label("Selector", exact=True).fill("env=canary")
    page.get_by_label("Stage sizes in").select_option("count")
    page.get_by_label("Soak seconds").fill("0")
    # Each mistake is named at its field, and nothing is started.
    stages = page.get_by_label("Stages", exact=True)
    stages.fill("1, 0")
    page.get_by_role("button", name="Start rollout").click()
    error = page.locator("[data-wizard-error]")
    assert "Stage 2 (0): a number of agents is a whole number of at least 1." == error.inner_text()
    assert stages.get_attribute("aria-invalid") == "true"
    stages.fill("1, 2")
    page.get_by_label("Pause when stalled exceed").fill("two")
    page.get_by_role("button", name="Start rollout").click()
    page.wait_for_function("document.querySelector('[data-wizard-error]').textContent.startsWith('Pause when stalled')")
    assert "a number of agents (3) or a percentage of the stage (5%)" in error.inner_text()
    page.get_by_label("Stage sizes in").select_option("percent")
    stages.fill("50, 10")
    page.get_by_role("button", name="Start rollout").click()
    page.wait_for_function("document.querySelector('[data-wizard-error]').textContent.includes('grow')")
    assert page.url.endswith("/rollouts")
    accessible(page, "rollout wizard with errors")
    shot(page, "14-wizard-errors")
    page.get_by_label("Stage sizes in").select_option("count")
    stages.fill("1, 2")
    page.get_by_label("Pause when stalled exceed").fill("1")
    page.get_by_role("button", name="Start rollout").click()
    page.wait_for_url("**/rollouts/*")
    rid = page.url.rsplit("/", 1)[1]
    status, body = api(server, "GET", f"/api/v1/rollouts/{rid}")
    assert status == 200, body
    assert body["stagePlan"] == [{"count": 1}, {"count": 2}]
    assert body["gates"] == {"maxFailed": 0, "maxStalled": 1}
    assert [c["targets"] for c in body["stageCounts"]] == [1, 2, 1], "the agent left over is a last stage"
    assert page.locator("[data-plan]").inner_text() == (
        "Stages: 1 agent, 2 agents · Pause when failed exceed 0 · Pause when stalled exceed 1")
    wait_for(lambda: api(server, "GET", f"/api/v1/rollouts/{rid}")[1]["state"] == "completed", timeout=30,
             what="the counted rollout to complete")
    shot(page, "15-rollout-counted")


def test_enrollment_tokens_for_admins_only(rig):
    server = rig["server"]
    page = new_page(rig)
    sign_in(page, rig, path="/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Enrollment").click()
    page.wait_for_url("**/enrollment")
    assert page.locator("h1").inner_text() == "Enrollment tokens"
    accessible(page, "enrollment")
    # A refused form comes back with what was typed and why.
    page.get_by_label("Labels").fill("env")
    page.get_by_role("button", name="Create enrollment token").click()
    assert "key=value" in page.locator("[data-form-error]").inner_text()
    assert page.get_by_label("Labels").input_value() == "env"
    accessible(page, "enrollment refused")
    page.get_by_label("Labels").fill("env=edge, team=obs")
    page.get_by_label("Uses").fill("3")
    page.get_by_label("Expires after (days)").fill("7")
    page.get_by_role("button", name="Create enrollment token").click()
    token = page.locator("[data-token-value]").inner_text()
    assert token.startswith("ampora_"), token
    shot(page, "16-enrollment-created")
    status, listed = api(server, "GET", "/api/v1/tokens")
    assert status == 200
    made = [t for t in listed["items"] if t["labels"] == {"env": "edge", "team": "obs"}]
    assert len(made) == 1 and made[0]["usesLeft"] == 3 and made[0]["expiresAt"], listed
    row = page.locator(f"tr:has(code:text('{made[0]['id']}'))")
    assert "team=obs" in row.inner_text() and "3" in row.inner_text()
    # The token is shown once: the page read again does not have it.
    page.goto(base_url(rig) + "/enrollment")
    assert token not in page.content()
    page.locator(f"tr:has(code:text('{made[0]['id']}'))").get_by_role("button", name="Revoke").click()
    page.wait_for_url("**/enrollment?done=revoke")
    assert page.locator(f"code:text('{made[0]['id']}')").count() == 0
    assert all(t["id"] != made[0]["id"] for t in api(server, "GET", "/api/v1/tokens")[1]["items"])

    # A viewer and an operator see no link, get a refusal for the page and its forms.
    for who in ("viewer", "operator"):
        other = new_page(rig)
        sign_in(other, rig, token=rig[who], path="/")
        assert other.locator("nav a[href='/enrollment']").count() == 0, who
        other.goto(base_url(rig) + "/enrollment")
        assert "Not allowed" in other.locator("h1").inner_text(), who
        csrf = next(c["value"] for c in other.context.cookies() if c["name"] == "ampora_csrf")
        answer = other.request.post(base_url(rig) + "/enrollment/create", form={"csrf": csrf, "labels": "a=b"})
        assert answer.status == 403, (who, answer.status)
        status = other.evaluate("""async (csrf) => (await fetch('/api/v1/tokens', {method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: '{}'})).status""", csrf)
        assert status == 403, who
    assert not [t for t in api(server, "GET", "/api/v1/tokens")[1]["items"] if t["labels"] == {"a": "b"}]


def test_agent_components_and_custom_messages(rig):
    agent = ChattyAgent(rig["server"])
    try:
        page = new_page(rig)
        sign_in(page, rig, token=rig["operator"], path=f"/agents/{agent.text}")
        components = page.locator("[data-components]")
        text = components.inner_text()
        for name in ("receivers", "otlp", "code.namespace=otlpreceiver", "exporters", "otlphttp"):
            assert name in text, (name, text)
        messages = page.locator("[data-custom-messages]")
        assert CAPABILITY in messages.inner_text()
        assert "hello <b>operator</b>" in messages.locator("table").inner_text(), "the agent's text, escaped"
        accessible(page, "agent with components and custom messages")
        shot(page, "17-agent-components")
        page.get_by_label("Capability").select_option(CAPABILITY)
        page.get_by_label("Type").fill("pong")
        page.get_by_label("Data (text)").fill("hi there")
        page.get_by_role("button", name="Send").click()
        page.wait_for_url("**done=custom-messages")
        assert page.locator("[data-done]").inner_text() == "Custom message: sent."
        wait_for(lambda: (CAPABILITY, "pong", b"hi there") in agent.received, what="the agent to get the message")

        # An agent that announced nothing: no form, a reason; and no components reported.
        uid = api(rig["server"], "GET", "/api/v1/agents?attr.host.name=web-010")[1]["items"][0]["instanceUid"]
        page.goto(base_url(rig) + f"/agents/{uid}")
        assert "announced no custom capability" in page.locator("[data-custom-messages]").inner_text()
        assert page.locator("form[data-custom-message]").count() == 0
        assert "not reported its available components" in page.locator("[data-components]").inner_text()

        # A viewer reads both, and has no form to send with.
        viewer = new_page(rig)
        sign_in(viewer, rig, token=rig["viewer"], path=f"/agents/{agent.text}")
        assert "greeting" in viewer.locator("[data-custom-messages]").inner_text()
        assert viewer.locator("form[data-custom-message]").count() == 0
        csrf = next(c["value"] for c in viewer.context.cookies() if c["name"] == "ampora_csrf")
        refused = viewer.request.post(base_url(rig) + f"/agents/{agent.text}/custom-messages",
                                      form={"csrf": csrf, "capability": CAPABILITY, "type": "x"})
        assert refused.status == 403
    finally:
        agent.close()


def test_actions_without_javascript(rig):
    server = rig["server"]
    page = new_page(rig, script=False)
    uid = api(server, "GET", "/api/v1/agents?attr.host.name=web-020")[1]["items"][0]["instanceUid"]
    sign_in(page, rig, path=f"/agents/{uid}")
    page.get_by_role("button", name="Reconcile").click()
    page.wait_for_url(f"**/agents/{uid}?done=reconcile")
    assert page.locator("[data-done]").inner_text() == "Reconcile: sent."
    # What the API refuses is a page saying why, with the way back.
    page.get_by_role("button", name="Restart").click()
    assert "AcceptsRestartCommand" in page.locator(".notice.error").inner_text()
    page.get_by_role("link", name="Back to the page").click()
    page.wait_for_url(f"**/agents/{uid}")
    page.get_by_role("button", name="Disconnect").click()
    page.wait_for_url(f"**/agents/{uid}?done=disconnect")
    wait_for(lambda: api(server, "GET", f"/api/v1/agents/{uid}")[1]["connected"] is False,
             what="the agent to be disconnected")
    # Revoked, the agent's page says so and offers to readmit it instead (T4).
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_url(f"**/agents/{uid}?done=revoke")
    assert api(server, "GET", f"/api/v1/agents/{uid}")[1]["revoked"] is True
    assert "revoked" in page.locator("#agent-status").inner_text()
    assert page.get_by_role("button", name="Revoke").count() == 0
    page.get_by_role("button", name="Readmit").click()
    page.wait_for_url(f"**/agents/{uid}?done=readmit")
    assert api(server, "GET", f"/api/v1/agents/{uid}")[1]["revoked"] is False
    assert "revoked" not in page.locator("#agent-status").inner_text()
    audit = api(server, "GET", "/api/v1/audit?action=agent.reconcile")[1]["items"]
    assert any(e["target"] == f"/agents/{uid}/reconcile" and e["outcome"] == "ok" for e in audit), audit
    # A form without the session's CSRF token changes nothing.
    answer = page.request.post(base_url(rig) + f"/agents/{uid}/reconcile", form={"csrf": "wrong"}, max_redirects=0)
    assert answer.status == 403

    # A rollout paused, resumed, aborted and rolled back with plain forms.
    status, good = api(server, "PUT", "/api/v1/configs/base", variant("NOSCRIPT"), {"Content-Type": "text/yaml"})
    assert status == 200, good
    status, made = api(server, "POST", "/api/v1/rollouts", {
        "config": "base", "version": good["version"], "target": {"selector": {"env": "canary"}},
        "stages": [{"count": 1}], "soakSeconds": 600})
    assert status == 201, made
    page.goto(base_url(rig) + f"/rollouts/{made['id']}")
    for button, state in (("Pause", "paused"), ("Resume", "running"), ("Abort", "aborted")):
        page.get_by_role("button", name=button).click()
        page.wait_for_url(f"**/rollouts/{made['id']}?done=*")
        assert api(server, "GET", f"/api/v1/rollouts/{made['id']}")[1]["state"] == state, button
    assert page.locator("[data-done]").inner_text() == "Abort: done."
    shot(page, "18-rollout-no-script")
    # axe-core is a script: the pages the forms led to are checked in a page that runs it.
    checked = new_page(rig)
    sign_in(checked, rig, path=f"/agents/{uid}?done=reconcile")
    accessible(checked, "agent after a form's change")
    checked.goto(base_url(rig) + f"/rollouts/{made['id']}?done=abort")
    accessible(checked, "rollout after a form's change")
    page.get_by_role("button", name="Roll back").click()
    page.wait_for_url("**/rollouts/*?done=rollback")
    assert made["id"] not in page.url, "the rollback is a new rollout, and its page is shown"
    assert "rolls back" in page.locator(".sub").inner_text()
    # An enrollment token revoked with its form.
    status, token = api(server, "POST", "/api/v1/tokens", {"labels": {"made": "for-the-form"}})
    assert status == 201, token
    page.goto(base_url(rig) + "/enrollment")
    page.locator(f"tr:has(code:text('{token['id']}'))").get_by_role("button", name="Revoke").click()
    page.wait_for_url("**/enrollment?done=revoke")
    assert page.locator("[data-done]").inner_text() == "Revoke: done."
    assert all(t["id"] != token["id"] for t in api(server, "GET", "/api/v1/tokens")[1]["items"])
    # A group deleted and an access token revoked with their forms.
    assert api(server, "PUT", "/api/v1/groups/doomed", {"selector": {"env": "nowhere"}})[0] in (200, 201)
    page.goto(base_url(rig) + "/groups")
    page.locator("tr:has(a:text-is('doomed'))").get_by_role("button", name="Delete").click()
    page.wait_for_url("**/groups?done=delete")
    assert "doomed" not in page.locator("table").inner_text()
    status, access = api(server, "POST", "/api/v1/access-tokens", {"role": "viewer", "name": "short-lived"})
    assert status == 201, access
    page.goto(base_url(rig) + "/tokens")
    page.locator("tr:has(th:text-is('short-lived'))").get_by_role("button", name="Revoke").click()
    page.wait_for_url("**/tokens?done=revoke")
    assert "revoked" in page.locator("tr:has(th:text-is('short-lived'))").inner_text()
    # A stale page's form is refused (the ETag it was sent with is old).
    page.goto(base_url(rig) + f"/rollouts/{made['id']}")
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "ampora_csrf")
    stale = page.request.post(base_url(rig) + f"/rollouts/{made['id']}/abort", form={"csrf": csrf, "etag": "1"})
    assert stale.status in (409, 412), stale.status
