/* The rows table: loads the data files one after another, filters, sorts, pages, records decisions.
 *
 * Rows arrive in data/rows-NNNNN.js files (plain scripts, so the page works from file:// and from
 * a static bucket alike); only the current page is drawn, so a run of any size stays responsive.
 */
(function (DDNM) {
  "use strict";

  const el = DDNM.el;
  const config = DDNM.config;
  const state = { rows: [], filtered: [], sortKey: "index", sortDir: 1, page: 0, pageSize: 50, loadedChunks: 0 };
  const decisions = new DDNM.Decisions("ddnm-batch-report:" + config.out_uri);
  const controls = {
    status: document.getElementById("filter-status"),
    op: document.getElementById("filter-op"),
    decision: document.getElementById("filter-decision"),
    text: document.getElementById("filter-text"),
    pageSize: document.getElementById("page-size"),
  };
  const viewer = new DDNM.Viewer(document.getElementById("detail"), decisions, () => refresh());

  /** Called by every data file with its rows. */
  window.ddnmReportAddRows = function (rows) {
    for (const row of rows) {
      row.search = [row.id, row.uri, row.op, row.params, row.error_type, row.error_message, row.note,
                    JSON.stringify(row.extra || {})].join("\n").toLowerCase();
    }
    state.rows.push(...rows);
  };

  function loadChunk(index) {
    if (index >= config.chunks.length) {
      document.body.dataset.loaded = "true";
      return;
    }
    const script = document.createElement("script");
    script.src = config.chunks[index];
    script.onload = () => {
      state.loadedChunks = index + 1;
      refresh();
      loadChunk(index + 1);
    };
    script.onerror = () => DDNM.notice("Cannot load " + config.chunks[index] + ": keep the report folder together.");
    document.head.append(script);
  }

  function matches(row) {
    const text = controls.text.value.trim().toLowerCase();
    return (!controls.status.value || row.status === controls.status.value) &&
      (!controls.op.value || row.op === controls.op.value) &&
      (!controls.decision.value || (decisions.decision(row) || "undecided") === controls.decision.value) &&
      (!text || row.search.includes(text) || decisions.note(row).toLowerCase().includes(text));
  }

  function sortValue(row) {
    return state.sortKey === "decision" ? decisions.decision(row) : row[state.sortKey];
  }

  /** Empty values sort last in both directions; numbers as numbers, text by locale. */
  function compareRows(a, b) {
    const x = sortValue(a), y = sortValue(b);
    const emptyX = x === null || x === undefined || x === "", emptyY = y === null || y === undefined || y === "";
    if (emptyX || emptyY) return emptyX - emptyY;
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return state.sortDir * order || a.index - b.index;
  }

  function refresh() {
    state.filtered = state.rows.filter(matches).sort(compareRows);
    state.pageSize = Number(controls.pageSize.value);
    const pages = Math.max(1, Math.ceil(state.filtered.length / state.pageSize));
    state.page = Math.min(state.page, pages - 1);
    drawPage(pages);
  }

  function drawPage(pages) {
    const start = state.page * state.pageSize;
    const shown = state.filtered.slice(start, start + state.pageSize);
    document.querySelector("#rows tbody").replaceChildren(...shown.map((row, i) => tableRow(row, start + i)));
    const loading = state.rows.length < config.total;
    const loaded = loading ? " (" + state.rows.length + " of " + config.total + " loaded)" : "";
    document.getElementById("count").textContent = (shown.length ? start + 1 + "–" + (start + shown.length) : "0") +
      " of " + state.filtered.length + " matching rows" + loaded;
    document.getElementById("page-label").textContent = "page " + (state.page + 1) + " / " + pages;
    for (const th of document.querySelectorAll("#rows th[data-key]")) {
      const sorted = th.dataset.key === state.sortKey;
      th.setAttribute("aria-sort", sorted ? (state.sortDir > 0 ? "ascending" : "descending") : "none");
    }
  }

  function tableRow(row, position) {
    const decision = decisions.decision(row);
    const thumb = (row.thumbs || {}).after || (row.thumbs || {}).before;
    const tr = el("tr", { class: "row decision-" + decision, "data-id": row.id, "data-status": row.status }, [
      el("td", {}, thumb ? [el("img", { class: "thumb", src: thumb, alt: "", loading: "lazy" })] : []),
      el("td", { class: "num muted" }, [row.index + 1]),
      el("td", { class: "row-id mono" }, [row.id]),
      el("td", {}, [row.op]),
      el("td", { class: "status-" + row.status, title: row.error_message },
         [row.status + (row.error_type ? " · " + row.error_type : "")]),
      el("td", { class: "num" }, [DDNM.sci(row.residual)]),
      el("td", { class: "num" }, [DDNM.percent(row.invented)]),
      el("td", { class: "num" }, [DDNM.percent(row.invented_area)]),
      el("td", { class: "num", title: row.samples + " posterior sample(s)" }, [DDNM.percent(row.uncertainty)]),
      el("td", { class: "num" }, [DDNM.fixed(row.restore_s, 2)]),
      el("td", { class: "decision" },
         [decisionButton(row, "accepted", "✓"), decisionButton(row, "rejected", "✗"), " " + (decision || "")]),
    ]);
    tr.addEventListener("click", (event) => {
      if (!event.target.closest("button")) viewer.open(state.filtered, position);
    });
    return tr;
  }

  function decisionButton(row, decision, label) {
    const kind = decision === "accepted" ? "accept" : "reject";
    const node = el("button", { type: "button", class: kind, title: decision }, [label]);
    node.addEventListener("click", () => {
      decisions.set(row, decisions.decision(row) === decision ? "" : decision, decisions.note(row));
      refresh();
    });
    return node;
  }

  function wire() {
    for (const control of Object.values(controls)) {
      const event = control.tagName === "SELECT" ? "change" : "input";
      control.addEventListener(event, () => { state.page = 0; refresh(); });
    }
    for (const th of document.querySelectorAll("#rows th[data-key]")) {
      th.addEventListener("click", () => {
        state.sortDir = th.dataset.key === state.sortKey ? -state.sortDir : 1;
        state.sortKey = th.dataset.key;
        refresh();
      });
    }
    const onClick = (id, action) => document.getElementById(id).addEventListener("click", action);
    onClick("prev-page", () => { state.page = Math.max(0, state.page - 1); refresh(); });
    onClick("next-page", () => { state.page += 1; refresh(); });
    onClick("export-decisions", () => DDNM.download("decisions.csv", decisions.csv(state.rows)));
    onClick("export-rejected", () => DDNM.download("rejected.csv", decisions.csv(state.rows, "rejected")));
    for (const op of config.ops) controls.op.append(el("option", { value: op }, [op]));
  }

  wire();
  refresh();
  loadChunk(0);
  // For scripted checks (the tests) and the curious: the loaded rows and the CSV the buttons save.
  window.DDNM_REPORT = { state, decisions, csv: (only) => decisions.csv(state.rows, only) };
})(window.DDNM);
