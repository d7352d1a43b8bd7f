/* The detail view of one row: before/after slider, A⁺y, null-space heat map, facts, decision.
 * Keys while open: a accept, r reject, u undecided, j / → next, k / ← previous, Esc close.
 */
(function (DDNM) {
  "use strict";

  const el = DDNM.el;

  class Viewer {
    constructor(dialog, decisions, onChange) {
      this.dialog = dialog;
      this.decisions = decisions;
      this.onChange = onChange;
      this.rows = [];
      this.position = 0;
      dialog.addEventListener("keydown", (event) => this.key(event));
    }

    open(rows, position) {
      this.rows = rows;
      this.position = position;
      this.render();
      if (!this.dialog.open) this.dialog.showModal();
    }

    get row() {
      return this.rows[this.position];
    }

    move(step) {
      const next = this.position + step;
      if (next >= 0 && next < this.rows.length) {
        this.position = next;
        this.render();
      }
    }

    decide(decision) {
      const note = this.dialog.querySelector("input.note").value;
      this.decisions.set(this.row, decision, note);
      this.onChange();
      this.render();
    }

    key(event) {
      if (event.target.tagName === "INPUT" && event.target.type === "text") return;
      const actions = { a: () => this.decide("accepted"), r: () => this.decide("rejected"), u: () => this.decide(""),
                        j: () => this.move(1), ArrowRight: () => this.move(1),
                        k: () => this.move(-1), ArrowLeft: () => this.move(-1) };
      if (actions[event.key]) {
        event.preventDefault();
        actions[event.key]();
      }
    }

    render() {
      const row = this.row;
      const decision = this.decisions.decision(row);
      this.dialog.replaceChildren(
        el("h2", {}, [row.id + " ", el("span", { class: "status-" + row.status }, [row.status])]),
        el("div", { class: "views" }, views(row)),
        this.actions(row, decision),
        DDNM.factsTable(facts(row)),
      );
    }

    actions(row, decision) {
      const note = el("input", { type: "text", class: "note", placeholder: "note for the CSV (why)" });
      note.value = this.decisions.note(row);
      // Save the note without redrawing: the click that blurred the field must still reach its button.
      note.addEventListener("change", () => {
        this.decisions.set(row, this.decisions.decision(row), note.value);
        this.onChange();
      });
      return el("div", { class: "detail-actions" }, [
        button("accept", "Accept (a)", () => this.decide("accepted")),
        button("reject", "Reject (r)", () => this.decide("rejected")),
        button("undecide", "Undecided (u)", () => this.decide("")),
        el("span", { class: "decision decision-" + decision }, [decision || "undecided"]),
        note,
        button("prev", "◀ (k)", () => this.move(-1)),
        el("span", { class: "muted" }, [this.position + 1 + " / " + this.rows.length]),
        button("next", "▶ (j)", () => this.move(1)),
        button("close", "Close (Esc)", () => this.dialog.close()),
      ]);
    }
  }

  function button(name, label, onClick) {
    const node = el("button", { type: "button", class: name }, [label]);
    node.addEventListener("click", onClick);
    return node;
  }

  function views(row) {
    const thumbs = row.thumbs || {};
    const out = [];
    if (thumbs.before && thumbs.after) out.push(compare(thumbs.before, thumbs.after));
    else if (thumbs.before) out.push(figure(thumbs.before, "source (no restored image)"));
    if (thumbs.pinv) out.push(figure(thumbs.pinv, "A⁺y: what the archive image alone determines"));
    if (thumbs.heat) {
      const caption = "null-space map: where the output departs from A⁺y (what the model invented), mean " +
        DDNM.percent(row.invented) + ", " + DDNM.percent(row.invented_area) + " of pixels above " +
        DDNM.percent(DDNM.config.threshold);
      out.push(figure(thumbs.heat, caption, true));
    }
    if (!out.length) out.push(el("p", { class: "muted" }, ["No images to show. " + (row.note || "")]));
    return out;
  }

  function compare(before, after) {
    const beforeImg = el("img", { class: "view-img before", src: before, alt: "before" });
    const slider = el("input", { type: "range", min: "0", max: "100", value: "50", "aria-label": "before/after" });
    slider.addEventListener("input", () => {
      beforeImg.style.clipPath = "inset(0 " + (100 - slider.value) + "% 0 0)";
    });
    return el("figure", { class: "compare-figure" }, [
      el("div", { class: "compare" }, [el("img", { class: "view-img after", src: after, alt: "after" }), beforeImg]),
      slider,
      el("figcaption", {}, ["before (left of the slider) / after (right); drag to compare"]),
    ]);
  }

  function figure(src, caption, withLegend) {
    const children = [el("img", { class: "view-img", src: src, alt: caption }), el("figcaption", {}, [caption])];
    if (withLegend) children.push(DDNM.legend());
    return el("figure", {}, children);
  }

  function facts(row) {
    const list = [["source", row.uri], ["output", row.output_uri], ["operator", row.op + " " + row.params],
                  ["mask", row.mask_uri], ["consistency residual ‖Ax̂−y‖/‖y‖", DDNM.sci(row.residual)],
                  ["size in → out", row.input_size + " → " + row.output_size], ["model", row.model],
                  ["seed", row.seed], ["guidance", row.guidance], ["posterior samples averaged", row.samples],
                  ["spread of the samples (mean per-pixel std)", DDNM.percent(row.uncertainty)],
                  ["noise σ_y assumed (DDNM+, [-1, 1] units)", row.sigma_y ? DDNM.fixed(row.sigma_y, 4) : ""],
                  ["colour strength (1: the prior's colour)", row.colour_strength != null && row.colour_strength !== 1
                    ? DDNM.fixed(row.colour_strength, 2) : ""],
                  ["restore s", DDNM.fixed(row.restore_s, 2)], ["run", row.run_id],
                  ["finished", row.finished_at], ["output sha256", row.output_sha256],
                  ["kept of the scan", row.kept],
                  ["error", row.error_type ? row.error_type + ": " + row.error_message : ""],
                  ["report note", row.note]];
    for (const [key, value] of Object.entries(row.extra || {})) list.push([key, value]);
    return list.filter(([, value]) => value !== "" && value !== null && value !== undefined);
  }

  DDNM.Viewer = Viewer;
})(window.DDNM);
