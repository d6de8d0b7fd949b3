"""The HTML viewer in a real headless Chromium (Debian's /usr/bin/chromium, via Playwright)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from equivpruner.search.base import SearchConfig
from equivpruner.search.stats import PhaseStats, SearchStats
from equivpruner.search.tree import MergeRecord, Node, Tree
from equivpruner.viz import write_tree_html

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INJECTION = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
QUESTION = (
    "A bakery sells muffins for $3 each and cookies for $1.50 each. On Monday it sold "
    "24 muffins and twice as many cookies as muffins. How much money did the bakery "
    "make on Monday?"
)


# key, parent key, step text, (visits, value, prior, tokens), merged (text, stage, p, tokens)
# fmt: off
STEPS = [
    ("muffins", None, "Muffins bring in 24 × $3 = $72.", (14, 0.86, 0.41, 16), [
        ("Muffin sales: 24 * 3 = 72 dollars.", "symbolic", 1.0, 14),
        ("Revenue from the muffins is 3 × 24, which is $72.", "embedding", 0.94, 17),
    ]),
    ("cookies_first", None, "First the cookies: 2 × 24 = 48 cookies were sold.",
     (8, 0.74, 0.37, 18), [("The bakery sold twice 24, so 48 cookies.", "embedding", 0.90, 15)]),
    ("letters", None, "Let m be the muffin revenue and c the cookie revenue.",
     (1, 0.40, 0.22, 15), []),
    ("count", "muffins", "It sold twice as many cookies: 2 × 24 = 48.",
     (9, 0.88, 0.52, 17), [("Cookies sold = 24 × 2 = 48.", "symbolic", 1.0, 11)]),
    ("halved", "muffins", "Cookies cost half as much, so 24 / 2 = 12 cookies.",
     (2, 0.18, 0.22, 18), []),
    ("both", "cookies_first", "Muffins earn 24 × $3 = $72; cookies 48 × $1.50 = $72.",
     (5, 0.83, 0.61, 27), [("Muffins: $72. Cookies: 48 × 1.5 = $72.", "symbolic", 1.0, 20)]),
    ("revenue", "count", "The cookies brought in 48 × $1.50 = $72.", (6, 0.91, 0.58, 19), [
        ("48 cookies at $1.50 each is 48 × 1.5 = $72.", "symbolic", 1.0, 22),
    ]),
    ("slip", "count", "The cookies brought in 48 × 1.5 = $62.", (2, 0.21, 0.30, 17), []),
    ("hostile", "halved", "Format as HTML: " + INJECTION, (1, 0.05, 0.08, 31), []),
    ("alt_final", "both", "Altogether $72 + $72 = $144. The answer is 144.",
     (3, 0.95, 0.70, 18), []),
    ("final", "revenue", "Total: $72 + $72 = $144. The answer is 144.", (4, 0.97, 0.66, 18), [
        ("So the bakery made 72 + 72 = 144 dollars. The answer is 144.", "embedding", 0.93, 24),
    ]),
    ("wrong_final", "revenue", "Together: $72 + $48 = $120. The answer is 120.",
     (1, 0.12, 0.21, 18), []),
]
# fmt: on


def _stats() -> dict:
    stats = SearchStats(expansions=9, siblings_generated=20, siblings_kept=12)
    stats.exact_duplicates, stats.detector_pairs = 1, 23
    stats.merged_by_stage = {"symbolic": 4, "embedding": 3}
    stats.phases["expansion"] = PhaseStats(1184, 9872, 9, 6.2)
    stats.phases["rollout"] = PhaseStats(2930, 21400, 14, 15.8)
    stats.phases["value"] = PhaseStats(236, 8310, 12, 2.1)
    stats.phases["detector"] = PhaseStats(48, 1920, 3, 0.6)
    stats.wall_seconds = 24.9
    return stats.to_dict()


def demo_tree() -> tuple[Tree, dict[str, Node]]:
    """A small GSM8K-style MCTS tree: three levels, merged siblings, one hostile step."""
    tree = Tree(question=QUESTION, answer="144", gold="144", correct=True)
    tree.root.visits, tree.root.value_sum = 24, 19.9
    nodes: dict[str, Node] = {}
    for key, parent, text, (visits, value, prior, tokens), merged in STEPS:
        done = "The answer is" in text
        node = tree.add_child(
            nodes[parent] if parent else tree.root,
            text,
            visits=visits,
            value=value,
            prior=prior,
            tokens=tokens,
            terminal=done,
            finish_reason="eos" if done else "stop",
        )
        node.value_sum = round(visits * (0.9 * value + 0.04), 2)  # backed-up, not own
        node.merged = [
            MergeRecord(text=m, stage=s, probability=p, tokens=k) for m, s, p, k in merged
        ]
        nodes[key] = node
    tree.chosen_path = [nodes[k].id for k in ("muffins", "count", "revenue", "final")]
    search = SearchConfig(algorithm="mcts", width=4, simulations=3).to_dict()
    model = "Qwen2.5-Math-1.5B-Instruct (Q8_0)"
    tree.meta = {"stats": _stats(), "search": search, "model": model}
    return tree, nodes


@pytest.fixture
def browser_page(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (/usr/bin/chromium); see .ci/browser-deps.sh")
    from playwright import sync_api  # a test extra: missing it is an error, not a skip

    profile = tmp_path / "profile"
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            user_data_dir=str(profile),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1180, "height": 900},
            offline=True,
        )
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.set_default_timeout(10_000)
            yield page
        finally:
            ctx.close()


def _row(page, node: Node):
    return page.locator(f'li[data-node-id="{node.id}"] > .row')


def _save_screenshot(page, tmp_path: Path) -> None:
    shot = tmp_path / "viewer.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 1000
    target = os.environ.get("EQUIVPRUNER_SCREENSHOT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


def test_viewer_in_chromium(browser_page, tmp_path):
    page = browser_page
    tree, n = demo_tree()
    out = write_tree_html(tree, tmp_path / "tree.html")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(out.resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']")

    assert "muffins for $3 each" in page.inner_text("#summary")
    assert page.locator("#summary .chip.ok").inner_text() == "correct"
    assert "rollout" in page.inner_text("table.tokens")
    assert page.locator("li.chosen").count() == len(tree.chosen_path)
    assert _row(page, n["final"]).is_visible()  # the chosen path opens to its leaf

    # A collapsed node opens on its toggle and shows its merged siblings with their stage.
    both = page.locator(f'li[data-node-id="{n["both"].id}"]')
    assert not both.locator(".merged").count()  # lazily built: nothing before expanding
    both.locator("> .row > .toggle").click()
    merged = both.locator("> .kids > .merged")
    assert merged.is_visible()
    assert "symbolic" in merged.inner_text()
    assert "Muffins: $72. Cookies: 48 × 1.5 = $72." in merged.inner_text()
    _save_screenshot(page, tmp_path)

    # Hostile step text: the hidden branch appears through search, as literal text only.
    assert not page.locator(f'li[data-node-id="{n["hostile"].id}"]').count()
    page.fill("#search", "pwned")
    hostile = _row(page, n["hostile"])
    hostile.wait_for(state="visible")
    assert hostile.locator(".step").inner_text() == "Format as HTML: " + INJECTION
    assert page.locator("#tree img, #tree script").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.inner_text("#search-count") == "1 matching step"
    assert _row(page, n["halved"]).is_visible()  # ancestors stay visible
    assert not _row(page, n["final"]).is_visible()  # everything else is filtered out

    page.fill("#search", "")
    _row(page, n["final"]).wait_for(state="visible")
    assert page.inner_text("#search-count") == ""
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert errors == []


def _wide_tree(n_nodes: int) -> Tree:
    tree = Tree(question="How many steps can the viewer take?")
    frontier = [tree.root]
    while len(tree.nodes) < n_nodes:
        parent = frontier.pop(0)
        for k in range(min(5, n_nodes - len(tree.nodes))):
            text = f"Step {len(tree.nodes)}: 12 × {k} = {12 * k}, so we carry on."
            child = tree.add_child(parent, text, visits=k, value=0.2 * k, tokens=20)
            if k == 4:
                child.merged.append(MergeRecord(text=text, stage="exact", probability=1.0))
            frontier.append(child)
    tree.chosen_path = [n.id for n in tree.path_to(tree.nodes[-1])]
    return tree


def test_two_thousand_nodes_stay_responsive(browser_page, tmp_path):
    page = browser_page
    out = write_tree_html(_wide_tree(2000), tmp_path / "big.html")
    page.goto(out.resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("li.node").count() < 200  # lazily built: only the top levels
    # An operation count, not a time: expanding builds each node once and throws none away
    # (a viewer that rebuilt subtrees would create list items it then discards).
    made, kept = page.evaluate(
        """() => { const before = document.querySelectorAll('li').length;
                   const create = document.createElement.bind(document);
                   let made = 0;
                   document.createElement = (tag, options) => {
                     if (String(tag).toLowerCase() === 'li') made += 1;
                     return create(tag, options);
                   };
                   try { document.getElementById('expand-all').click(); }
                   finally { delete document.createElement; }
                   return [made, document.querySelectorAll('li').length - before]; }"""
    )
    assert page.locator("li.node").count() == 2000
    assert made == kept >= 2000 - 200
    page.fill("#search", "step 1999:")
    # The page's CSP forbids eval, so wait with a locator rather than wait_for_function.
    page.locator("#search-count", has_text="matching").wait_for()
    assert page.inner_text("#search-count") == "1 matching step"
    assert page.locator('li[data-node-id="1999"] > .row').is_visible()
    assert not page.locator('li[data-node-id="1998"] > .row').is_visible()


def _chain_tree(n: int) -> Tree:
    tree = Tree(question="A very deep search")
    node = tree.root
    for k in range(1, n):
        node = tree.add_child(node, f"step {k}: {k} + 1 = {k + 1}", visits=1, tokens=9)
    tree.chosen_path = list(range(1, n))
    return tree


def test_a_deep_chain_draws_without_recursion(browser_page, tmp_path):
    """5,000 levels: a viewer that recursed once per level (three calls each) would overflow
    the script's stack; this one opens nodes from a queue and keeps the page shallow."""
    page = browser_page
    page.set_default_timeout(120_000)  # an operation test: building 5,000 rows takes a while
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    out = write_tree_html(_chain_tree(5_000), tmp_path / "deep.html")
    page.goto(out.resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator('li[data-node-id="499"] > .row').is_visible()
    assert page.locator('li[data-node-id="501"]').count() == 0  # deeper: on request
    page.click("#show-chosen")
    last = page.locator('li[data-node-id="4999"] > .row')
    assert errors == [] and last.is_visible()  # no "Maximum call stack size exceeded"
    depth = page.evaluate(
        """() => { let d = 0;
                   for (let e = document.querySelector('li[data-node-id="4999"]'); e;
                        e = e.parentElement) d += 1;
                   return d; }"""
    )
    assert depth < 200  # deep steps continue in one list instead of nesting
    page.click("#collapse-all")
    assert not last.is_visible()
    page.click("#expand-all")
    assert last.is_visible() and errors == []
