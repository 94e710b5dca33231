/* Browser-side callbacks of the dashboards: the navigation mark and the query string of
   each page (its state, so a view can be shared or bookmarked). A page writes its state
   only when it differs from the address already shown: a page drawn from its address
   writes nothing, so the browser's history holds one entry per change. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  rg: {
    markNav: function (pathname) {
      const current = "/" + (pathname || "").replace(/^\/+|\/+$/g, "");
      const links = Array.from(document.querySelectorAll(".rg-nav a"));
      return links.map(function (link) {
        const href = new URL(link.href).pathname;
        return href === current ? "rg-nav-link rg-nav-active" : "rg-nav-link";
      });
    },
    /* ?key=value&... from pairs [key, value, default]; values equal to their default and
       empty values are left out; no_update when the address already says the same. */
    query: function (pairs) {
      const params = new URLSearchParams();
      pairs.forEach(function (p) {
        let value = p[1];
        if (Array.isArray(value)) value = value.join(",");
        if (value === null || value === undefined || value === "") return;
        if (p.length > 2 && p[2] !== null && p[2] !== undefined &&
            String(value) === String(p[2])) return;
        params.set(p[0], String(value));
      });
      const canonical = function (search) {
        const entries = Array.from(new URLSearchParams(search).entries());
        entries.sort(function (a, b) { return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0; });
        return JSON.stringify(entries);
      };
      if (canonical(params.toString()) === canonical(window.location.search)) {
        return window.dash_clientside.no_update;
      }
      const text = params.toString();
      return text ? "?" + text : "";
    },
    associationsSearch: function (table, q, method, klass, xs, ys, selected, names,
                                  defaults) {
      defaults = defaults || {};
      const name = (names && names[table]) || table;
      const pairs = [["pair", name, defaults.pair], ["q", q, 0.05],
                     ["method", method], ["class", klass], ["feature", xs], ["gene", ys]];
      if (selected && selected.table === table) {
        pairs.push(["x", selected.x]);
        pairs.push(["y", selected.y]);
      }
      return window.dash_clientside.rg.query(pairs);
    },
    modelsSearch: function (key, defaults) {
      return window.dash_clientside.rg.query([["model", key, (defaults || {}).model]]);
    },
    subtypesSearch: function (color, defaults) {
      return window.dash_clientside.rg.query([["color", color, (defaults || {}).color]]);
    },
    compareSearch: function (a, b, defaults) {
      defaults = defaults || {};
      return window.dash_clientside.rg.query([["a", a, defaults.a], ["b", b, defaults.b]]);
    },
    cohortSearch: function (filters) {
      return window.dash_clientside.rg.query([["filter", (filters || []).join(";")]]);
    },
    patientSearch: function (shown, defaults) {
      return window.dash_clientside.rg.query([["patient", shown, (defaults || {}).patient]]);
    },
    print: function () {
      window.print();
      return window.dash_clientside.no_update;
    },
    survivalSearch: function (variable, split, cutoff, covariates, defaults) {
      const value = split === "cutoff" ? (cutoff === null || cutoff === undefined ? "" : cutoff)
        : split;
      return window.dash_clientside.rg.query([
        ["variable", variable, (defaults || {}).variable], ["split", value, "median"],
        ["adjust", covariates || []]]);
    }
  }
});
