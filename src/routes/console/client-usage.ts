// @ts-nocheck -- browser code: the Worker's types have no DOM, and this function never runs in the Worker.
/**
 * The console's script, second part: usage per key over time from GET /admin/usage, as two SVG bar charts drawn
 * here (requests with errors, tokens prompt + completion; a few dozen lines instead of a charting library) and a
 * table of totals, which is also what a screen reader gets. Buckets are UTC hours or days, as the API counts them;
 * buckets without requests are drawn as zero. Given the app's `ui` (client-app.ts); the same two rules hold (see
 * there): nothing from this module's scope, no inner function given a name.
 */
export function usageView(ui) {
  const { $, h, n } = ui;
  const PERIODS = {
    "24h": ["hour", 24, "last 24 hours"],
    "7d": ["hour", 168, "last 7 days"],
    "30d": ["day", 30, "last 30 days"],
    "90d": ["day", 90, "last 90 days"],
  };
  const FIELDS = ["requests", "prompt_tokens", "completion_tokens", "errors"];
  /** What each chart last drew, to draw it again at a new width. */
  const drawn = new Map();
  let resizing = 0;

  const view = {
    zero() {
      return { requests: 0, prompt_tokens: 0, completion_tokens: 0, errors: 0 };
    },
    add(into, row) {
      for (const field of FIELDS) into[field] += row[field];
    },
    svg(tag, attrs, ...kids) {
      const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
      for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
      el.append(...kids);
      return el;
    },

    async load() {
      const [granularity, count, label] = PERIODS[$("u-range").value];
      const step = granularity === "hour" ? 3600e3 : 864e5;
      const first = Math.floor(Date.now() / step) * step - (count - 1) * step;
      const query = new URLSearchParams({ granularity, from: new Date(first).toISOString() });
      const key = $("u-key").value;
      if (key) query.set("key", key);
      const { data } = await ui.api(`/admin/usage?${query}`);
      const buckets = Array.from({ length: count }, (_, i) => ({ start: first + i * step, ...view.zero() }));
      const totals = new Map();
      for (const row of data) {
        const bucket = buckets[Math.round((Date.parse(row.start) - first) / step)];
        if (bucket) view.add(bucket, row);
        if (!totals.has(row.key_id)) totals.set(row.key_id, view.zero());
        view.add(totals.get(row.key_id), row);
      }
      for (const bucket of buckets) bucket.answered = Math.max(0, bucket.requests - bucket.errors);
      const per = `${granularity === "hour" ? "by hour" : "by day"}, ${label}`;
      const at = granularity === "hour" ? 16 : 10;
      view.chart(
        $("chart-requests"),
        buckets,
        at,
        [
          ["answered", "ok", "answered"],
          ["errors", "err", "errors"],
        ],
        `Requests ${per}`,
      );
      view.chart(
        $("chart-tokens"),
        buckets,
        at,
        [
          ["prompt_tokens", "p", "prompt tokens"],
          ["completion_tokens", "c", "completion tokens"],
        ],
        `Tokens ${per}`,
      );
      view.totals(totals, key);
    },

    /** A round number at or above max whose half is round too (2, 4 or 10 times a power of ten): the axis's top. */
    ceiling(max) {
      const power = 10 ** Math.floor(Math.log10(Math.max(1, max)));
      return [2, 4, 10].map((factor) => factor * power).find((value) => value >= max);
    },

    /**
     * Stacked bars of the series ([field, class, name]) per bucket, a y axis, and the first, middle and last
     * times (`at`: how much of the ISO time to show). Drawn at the size it is shown (a unit a pixel), so the
     * text stays 10 px on a phone and on a wide screen.
     */
    when(start, at) {
      return new Date(start).toISOString().slice(5, at).replace("T", " ");
    },
    sum(bucket, series) {
      return series.reduce((total, [field]) => total + bucket[field], 0);
    },

    chart(el, buckets, at, series, title) {
      drawn.set(el, [buckets, at, series, title]);
      const { when, sum } = view;
      const [W, H, LEFT, BOTTOM, TOP] = [Math.max(280, Math.round(el.getBoundingClientRect().width) || 400), 170, 44, 18, 8];
      const top = view.ceiling(Math.max(...buckets.map((bucket) => sum(bucket, series))));
      const height = H - BOTTOM - TOP;
      const width = (W - LEFT) / buckets.length;
      el.setAttribute("viewBox", `0 0 ${W} ${H}`);
      const parts = [0, 0.5, 1].flatMap((fraction) => {
        const y = TOP + height * (1 - fraction);
        return [view.svg("line", { x1: LEFT, x2: W, y1: y, y2: y }), view.svg("text", { x: LEFT - 4, y: y + 3, "text-anchor": "end" }, n(top * fraction))];
      });
      buckets.forEach((bucket, i) => {
        let y = TOP + height;
        const bar = view.svg(
          "g",
          {},
          view.svg("title", {}, `${when(bucket.start, at)}: ${series.map(([field, , name]) => `${n(bucket[field])} ${name}`).join(", ")}`),
        );
        for (const [field, cls] of series) {
          const tall = (height * bucket[field]) / top;
          y -= tall;
          if (tall > 0) bar.append(view.svg("rect", { x: LEFT + i * width + width * 0.1, y, width: Math.max(0.5, width * 0.8), height: tall, class: cls }));
        }
        parts.push(bar);
      });
      for (const [i, anchor, shift] of [
        [0, "start", 0],
        [Math.floor(buckets.length / 2), "middle", width / 2],
        [buckets.length - 1, "end", width],
      ]) {
        parts.push(view.svg("text", { x: LEFT + i * width + shift, y: H - 4, "text-anchor": anchor }, when(buckets[i].start, at)));
      }
      el.replaceChildren(...parts);
      const busiest = buckets.reduce((best, bucket) => (sum(bucket, series) > sum(best, series) ? bucket : best), buckets[0]);
      const peak = sum(busiest, series);
      const total = series.map(([field, , name]) => `${n(buckets.reduce((all, bucket) => all + bucket[field], 0))} ${name}`).join(", ");
      el.setAttribute("aria-label", `${title} (UTC): ${total}${peak ? `; busiest ${when(busiest.start, at)} with ${n(peak)}` : ""}.`);
    },

    cells(counts) {
      return FIELDS.map((field) => h("td", { "data-field": field }, n(counts[field])));
    },

    totals(totals, key) {
      const names = new Map(ui.state.keys.map((entry) => [entry.id, entry.name]));
      const ids = key ? [key] : [...new Set([...ui.state.keys.map((entry) => entry.id), ...totals.keys()])];
      const all = view.zero();
      const { cells } = view;
      const rows = ids.map((id) => {
        const counts = totals.get(id) || view.zero();
        view.add(all, counts);
        return h("tr", { "data-key": id }, h("th", { scope: "row" }, names.get(id) || id), ...cells(counts));
      });
      $("totals").tBodies[0].replaceChildren(...rows);
      $("totals").tFoot.replaceChildren(h("tr", {}, h("td", {}, key ? "Total" : "All keys"), ...cells(all)));
    },
  };

  for (const id of ["u-key", "u-range"]) $(id).addEventListener("change", () => view.load().catch(() => {}));
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      for (const [el, args] of drawn) view.chart(el, ...args);
    }, 150);
  });
  return view;
}
