/* Shared helpers of the review page. All text goes into the page with textContent, never as HTML. */
window.DDNM = (function () {
  "use strict";

  const config = JSON.parse(document.getElementById("report-config").textContent);

  /** A new element with attributes and children (strings become text nodes). */
  function el(tag, attributes, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    for (const child of children || []) node.append(child instanceof Node ? child : String(child));
    return node;
  }

  function factsTable(pairs) {
    return el("table", { class: "facts" }, pairs.map(([key, value]) =>
      el("tr", {}, [el("td", {}, [key]), el("td", { class: "mono" }, [String(value)])])));
  }

  function percent(value) {
    return value === null || value === undefined ? "–" : (100 * value).toFixed(1) + " %";
  }

  function sci(value) {
    return value === null || value === undefined ? "–" : value.toExponential(1);
  }

  function fixed(value, digits) {
    return value === null || value === undefined ? "–" : value.toFixed(digits);
  }

  function legend() {
    const top = " ≥ " + Math.round(100 * config.heat_full_scale) + " % of the range";
    return el("div", { class: "legend muted" }, ["0 ", el("img", { src: config.legend, alt: "heat scale" }), top]);
  }

  /** A message for the reviewer in the page (and the console, as a warning). */
  function notice(text) {
    console.warn(text);
    const box = document.getElementById("notices");
    if (box) box.append(el("p", {}, [text]));
  }

  return { config, el, factsTable, percent, sci, fixed, legend, notice };
})();
