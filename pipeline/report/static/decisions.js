/* Reviewer decisions: kept in this browser's localStorage, exported as CSV.
 *
 * The CSV is also a ddnm-batch manifest (id, uri, op, mask_uri, params, file_page, negative, then decision,
 * note and the row's catalogue columns), so the rejected rows can be restored again, the same image of the file
 * (a verso) and a plate as its positive again ("negative" is written yes or no, so no run's --negative changes it):
 *   ddnm-batch run rejected.csv --out OUT-rerun --seed 1
 * A decision holds only for the output it was made on: when a re-run replaces a row's image
 * (another output_sha256), the row shows as undecided again.
 */
(function (DDNM) {
  "use strict";

  const COLUMNS = ["id", "uri", "op", "mask_uri", "params", "file_page", "negative", "decision", "note",
                   "output_sha256"];

  class Decisions {
    constructor(storageKey) {
      this.key = storageKey;
      this.items = {};
      try {
        this.items = JSON.parse(window.localStorage.getItem(storageKey) || "{}") || {};
      } catch (err) {
        DDNM.notice("Saved decisions could not be read (" + err.message + "); starting empty.");
      }
    }

    save() {
      try {
        window.localStorage.setItem(this.key, JSON.stringify(this.items));
      } catch (err) {
        DDNM.notice("Decisions could not be saved in this browser (" + err.message + "); export them as CSV.");
      }
    }

    get(row) {
      const item = this.items[row.id];
      return item && item.output_sha256 === row.output_sha256 ? item : null;
    }

    decision(row) {
      const item = this.get(row);
      return item ? item.decision : "";
    }

    note(row) {
      const item = this.get(row);
      return item ? item.note : "";
    }

    set(row, decision, note) {
      if (!decision && !note) {
        delete this.items[row.id];
      } else {
        this.items[row.id] = { decision: decision, note: note || "", output_sha256: row.output_sha256,
                               at: new Date().toISOString() };
      }
      this.save();
    }

    /** CSV text of the decided rows among `rows` (all of them, or only one decision). */
    csv(rows, onlyDecision) {
      const chosen = rows.filter((row) => {
        const decision = this.decision(row);
        return decision && (!onlyDecision || decision === onlyDecision);
      });
      const extraKeys = [...new Set(chosen.flatMap((row) => Object.keys(row.extra || {})))]
        .filter((key) => !COLUMNS.includes(key)).sort();
      const header = COLUMNS.concat(extraKeys);
      const lines = [header.map(csvCell).join(",")];
      for (const row of chosen) {
        const item = this.get(row);
        const values = { ...row, decision: item.decision, note: item.note,
                         file_page: row.file_page > 1 ? String(row.file_page) : "",
                         negative: row.negative ? "yes" : "no" };
        const cells = COLUMNS.map((key) => values[key]).concat(extraKeys.map((key) => (row.extra || {})[key]));
        lines.push(cells.map(csvCell).join(","));
      }
      return lines.join("\n") + "\n";
    }
  }

  /** One CSV cell: quoted when it holds a comma, quote, line break or edge space (RFC 4180). A cell that a
   * spreadsheet would run as a formula (first character = + - @, tab or carriage return: ids and notes come
   * from catalogues and reviewers) gets a leading apostrophe, as OWASP advises against CSV injection. */
  function csvCell(value) {
    let text = value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
    if (/^[=+\-@\t\r]/.test(text)) {
      text = "'" + text;
    }
    return /[",\r\n]|^\s|\s$/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function download(fileName, text) {
    const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = fileName;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  DDNM.Decisions = Decisions;
  DDNM.csvCell = csvCell;
  DDNM.download = download;
})(window.DDNM);
