/* equivpruner tree viewer: builds the DOM lazily from the embedded JSON.
   Model text is only ever set with textContent; nothing here parses HTML. */
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("tree-data").textContent);
  const nodes = data.nodes || [];
  const chosen = new Set(data.chosen_path || []);
  const rendered = new Map(); // node id -> {li, toggle, kids, built, open, cont}
  const OPEN_BELOW_DEPTH = 2;
  /* Deep trees: below FLAT_FROM_DEPTH a node's largest child subtree continues in the same
     list, right after it, instead of nesting one level deeper; only its other children
     nest. The page then stays a few levels deep on any tree (a 20,000-step chain is one
     flat list), and nothing here recurses: nodes to open wait in a queue. */
  const FLAT_FROM_DEPTH = 24;
  const OPEN_CHOSEN_TO_DEPTH = 500; // deeper chosen steps open with "Chosen path"
  const toOpen = [];
  const order = []; // node ids, parents before children (from the root, no recursion)
  const heavy = new Map(); // node id -> the child with the largest subtree
  planTree();
  let visible = null; // ids shown while a search filter is active
  let matched = new Set();
  let haystacks = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function fmt(x, digits) {
    if (x === null || x === undefined) return "–";
    if (typeof x !== "number") return String(x);
    if (Number.isInteger(x)) return x.toLocaleString("en-US");
    return x.toFixed(digits === undefined ? 2 : digits);
  }

  function fixed(x) {
    return typeof x === "number" ? x.toFixed(2) : fmt(x);
  }

  function chip(cls, text, title) {
    const c = el("span", "chip " + cls, text);
    if (title) c.setAttribute("title", title);
    return c;
  }

  /* ---------- summary header ---------- */

  function field(label, value, cls) {
    const row = el("div", "field " + cls);
    row.append(el("span", "label", label), el("span", "value", value));
    return row;
  }

  function outcomeField() {
    const row = field("Answer", data.answer === null ? "(none)" : data.answer, "answer");
    if (data.correct === true || data.correct === false) {
      const ok = data.correct;
      row.append(chip(ok ? "ok" : "bad", ok ? "correct" : "incorrect"));
    }
    if (data.gold !== null && data.gold !== undefined) {
      row.append(el("span", "gold", "gold: " + data.gold));
    }
    return row;
  }

  function tokenTable(stats) {
    const phases = stats.phases || {};
    const table = el("table", "tokens");
    const head = table.createTHead().insertRow();
    for (const h of ["phase", "generated tokens", "prompt tokens", "calls", "seconds"]) {
      head.append(el("th", null, h));
    }
    const body = table.createTBody();
    const total = { generated_tokens: 0, prompt_tokens: 0, calls: 0, seconds: 0 };
    for (const [name, p] of Object.entries(phases)) {
      const r = body.insertRow();
      r.append(el("td", "phase", name), el("td", "num", fmt(p.generated_tokens)),
        el("td", "num", fmt(p.prompt_tokens)), el("td", "num", fmt(p.calls)),
        el("td", "num", fmt(p.seconds, 1)));
      for (const k of Object.keys(total)) total[k] += p[k] || 0;
    }
    const r = table.createTFoot().insertRow();
    r.append(el("td", "phase", "total"), el("td", "num", fmt(total.generated_tokens)),
      el("td", "num", fmt(total.prompt_tokens)), el("td", "num", fmt(total.calls)),
      el("td", "num", fmt(total.seconds, 1)));
    return table;
  }

  function siblingLine(stats) {
    const line = el("div", "siblings");
    if (stats.siblings_generated === undefined) return line;
    const gen = stats.siblings_generated || 0;
    const kept = stats.siblings_kept || 0;
    line.append(el("span", "label", "Siblings"),
      el("span", "value", fmt(gen) + " generated, " + fmt(kept) + " kept"));
    if (gen > 0) line.append(chip("pruned", fmt(100 * (gen - kept) / gen, 0) + "% pruned"));
    let byStage = stats.merged_by_stage || {};
    if (stats.exact_duplicates && !("identical" in byStage)) {
      // trees saved before the identical folds were counted among the merges
      byStage = Object.assign({identical: stats.exact_duplicates}, byStage);
    }
    for (const [stage, count] of Object.entries(byStage)) {
      const c = chip("stage", stage + " " + fmt(count), "merged by the " + stage + " stage");
      c.dataset.stage = stage;
      line.append(c);
    }
    return line;
  }

  function describe(value) {
    if (value === null || value === undefined) return "";
    if (typeof value !== "object") return String(value);
    return Object.entries(value)
      .map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : String(v)))
      .join(", ");
  }

  function renderSummary() {
    const box = document.getElementById("summary");
    box.append(el("h1", null, "equivpruner search tree"));
    box.append(field("Question", data.question, "question"));
    box.append(outcomeField());
    const stats = data.stats || {};
    if (stats.phases) box.append(tokenTable(stats));
    box.append(siblingLine(stats));
    const model = describe(data.model);
    if (model) box.append(field("Model", model, "model"));
    const search = describe(data.search);
    if (search) box.append(field("Search", search, "search-config"));
    box.append(field("Steps", fmt(Math.max(nodes.length - 1, 0)) + " kept, " +
      fmt(nodes.reduce((s, n) => s + n.merged.length, 0)) + " merged", "count"));
  }

  /* ---------- tree ---------- */

  function planTree() {
    if (!nodes.length) return;
    const stack = [0];
    while (stack.length) {
      const id = stack.pop();
      order.push(id);
      for (const c of nodes[id].children) stack.push(c);
    }
    const size = new Map();
    for (let k = order.length - 1; k >= 0; k--) {
      const n = nodes[order[k]];
      let total = 1;
      let best = null;
      for (const c of n.children) {
        total += size.get(c);
        if (best === null || size.get(c) > size.get(best)) best = c;
      }
      size.set(n.id, total);
      if (best !== null) heavy.set(n.id, best);
    }
  }

  function continues(n) {
    return n.depth >= FLAT_FROM_DEPTH && heavy.has(n.id) ? heavy.get(n.id) : null;
  }

  function nodeChips(n) {
    const out = [];
    if (n.value !== null) out.push(chip("value", "V " + fixed(n.value), "value estimate"));
    if (n.q !== null) out.push(chip("q", "Q " + fixed(n.q), "mean backed-up value"));
    out.push(chip("visits", "N " + fmt(n.visits), "visits"));
    out.push(chip("prior", "P " + fixed(n.prior), "prior"));
    out.push(chip("tok", fmt(n.tokens) + " tok", "generated tokens"));
    if (n.terminal) out.push(chip("terminal", "terminal", "finish: " + n.finish_reason));
    if (n.merged.length) out.push(chip("merged-count", "+" + n.merged.length + " merged"));
    if (n.expansion) {
      const e = n.expansion;
      out.push(chip("expansion", e.samples + " sampled → " + e.groups + " kept",
        "its expansion: samples taken, groups kept, stopped by " + e.stop));
      if (e.rejected) {
        out.push(chip("rejected", e.rejected + " discarded",
          "samples discarded by the arithmetic check (a stated equality was false)"));
      }
    }
    return out;
  }

  function makeRow(n, expandable) {
    const row = el("div", "row");
    let toggle = null;
    if (expandable) {
      toggle = el("button", "toggle", "▸");
      toggle.type = "button";
      toggle.setAttribute("aria-label", "expand node " + n.id);
      toggle.addEventListener("click", () => setOpen(n.id, !rendered.get(n.id).open));
      row.append(toggle);
    } else {
      row.append(el("span", "leaf", "•"));
    }
    row.append(el("span", "nid", "#" + n.id));
    const isRoot = n.parent === null;
    row.append(el("span", isRoot ? "step root-step" : "step", isRoot ? "(root)" : n.text));
    const chips = el("span", "chips");
    chips.append(...nodeChips(n));
    row.append(chips);
    return { row, toggle };
  }

  function makeMerged(n) {
    const box = el("div", "merged");
    const s = n.merged.length === 1 ? "" : "s";
    box.append(el("div", "merged-title",
      n.merged.length + " pruned sibling" + s + " merged into #" + n.id));
    for (const m of n.merged) {
      const item = el("div", "merged-item");
      item.dataset.stage = m.stage;
      const stage = chip("stage", m.stage, "detector stage");
      stage.dataset.stage = m.stage;
      item.append(stage, chip("prob", "p=" + fixed(m.probability), "P(equivalent)"),
        chip("tok", fmt(m.tokens) + " tok", "generated tokens"), el("span", "step", m.text));
      box.append(item);
    }
    return box;
  }

  function makeNode(id) {
    const n = nodes[id];
    const expandable = n.children.length > 0 || n.merged.length > 0;
    const li = el("li", "node");
    li.dataset.nodeId = String(id);
    li.setAttribute("role", "treeitem");
    if (chosen.has(id)) li.classList.add("chosen");
    if (n.terminal) li.classList.add("terminal");
    const { row, toggle } = makeRow(n, expandable);
    const kids = el("div", "kids");
    kids.hidden = true;
    li.append(row, kids);
    rendered.set(id, { li, toggle, kids, built: false, open: false, cont: null });
    if (visible) {
      li.hidden = !visible.has(id);
      li.classList.toggle("match", matched.has(id));
    }
    const onPath = chosen.has(id) && n.depth < OPEN_CHOSEN_TO_DEPTH;
    if (expandable && (n.depth < OPEN_BELOW_DEPTH || onPath)) toOpen.push(id);
    return li;
  }

  function build(id) {
    const r = rendered.get(id);
    const n = nodes[id];
    if (n.merged.length) r.kids.append(makeMerged(n));
    const cont = continues(n);
    const nested = n.children.filter((c) => c !== cont);
    if (nested.length) {
      const ul = el("ul", "children");
      ul.setAttribute("role", "group");
      const frag = document.createDocumentFragment();
      for (const c of nested) frag.append(makeNode(c));
      ul.append(frag);
      r.kids.append(ul);
    }
    if (cont !== null) {
      const li = makeNode(cont);
      li.classList.add("continued");
      li.title = "depth " + nodes[cont].depth + ", continues #" + id;
      r.li.after(li);
      r.cont = cont;
    }
    r.built = true;
  }

  function openOne(id, open) {
    const r = rendered.get(id);
    if (!r || !r.toggle) return;
    if (open && !r.built) build(id);
    r.open = open;
    r.kids.hidden = !open;
    r.li.classList.toggle("open", open);
    r.toggle.textContent = open ? "▾" : "▸";
    r.toggle.setAttribute("aria-expanded", String(open));
    // the continuation chain below: shown while each link above it is open (a hidden
    // link's whole chain is hidden already, so closing stops there)
    let cur = r;
    let show = open;
    while (cur.cont !== null) {
      const next = rendered.get(cur.cont);
      const hide = !show || (visible !== null && !visible.has(cur.cont));
      if (hide && next.li.hidden) break;
      next.li.hidden = hide;
      show = !hide && next.open;
      cur = next;
    }
  }

  function setOpen(id, open) {
    openOne(id, open);
    while (toOpen.length) openOne(toOpen.pop(), true);
  }

  /* ---------- search and controls ---------- */

  function haystack(id) {
    if (!haystacks) haystacks = new Array(nodes.length);
    if (haystacks[id] === undefined) {
      const n = nodes[id];
      haystacks[id] = [n.text, ...n.merged.map((m) => m.text)].join("\n").toLowerCase();
    }
    return haystacks[id];
  }

  function clearFilter() {
    visible = null;
    matched = new Set();
    for (const r of rendered.values()) {
      r.li.hidden = false;
      r.li.classList.remove("match");
    }
    for (const [id, r] of rendered) if (r.cont !== null && !r.open) openOne(id, false);
    document.getElementById("search-count").textContent = "";
  }

  function applyFilter(query) {
    const q = query.trim().toLowerCase();
    if (!q) return clearFilter();
    const hits = nodes.filter((n) => haystack(n.id).includes(q)).map((n) => n.id);
    const keep = new Set();
    for (const id of hits) {
      for (let cur = id; cur !== null && !keep.has(cur); cur = nodes[cur].parent) keep.add(cur);
    }
    visible = keep;
    matched = new Set(hits);
    const byDepth = [...keep].sort((a, b) => nodes[a].depth - nodes[b].depth);
    for (const id of byDepth) {
      if (nodes[id].parent !== null) setOpen(nodes[id].parent, true);
    }
    for (const [id, r] of rendered) {
      r.li.hidden = !keep.has(id);
      r.li.classList.toggle("match", matched.has(id));
    }
    const s = hits.length === 1 ? "" : "s";
    document.getElementById("search-count").textContent = hits.length + " matching step" + s;
  }

  function expandAll() {
    for (const id of order) setOpen(id, true); // parents come first
  }

  function collapseAll() {
    for (const id of rendered.keys()) setOpen(id, id === 0);
  }

  function showChosen() {
    collapseAll();
    let last = null;
    for (const id of data.chosen_path || []) {
      if (nodes[id] && nodes[id].parent !== null) setOpen(nodes[id].parent, true);
      last = id;
    }
    const r = last === null ? null : rendered.get(last);
    if (r) r.li.scrollIntoView({ block: "center" });
  }

  function wireControls() {
    const search = document.getElementById("search");
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => applyFilter(search.value), 120);
    });
    document.getElementById("expand-all").addEventListener("click", expandAll);
    document.getElementById("collapse-all").addEventListener("click", collapseAll);
    document.getElementById("show-chosen").addEventListener("click", showChosen);
  }

  renderSummary();
  if (nodes.length) {
    const top = el("ul", "children top");
    top.append(makeNode(0));
    document.getElementById("tree").append(top);
    while (toOpen.length) openOne(toOpen.pop(), true);
  }
  wireControls();
  document.body.dataset.ready = "1";
})();
