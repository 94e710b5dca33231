/* Browser-side callbacks of the dashboards: the navigation mark and the query string of
   each page (its state, so a view can be shared or bookmarked). */
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
       empty values are left out. */
    query: function (pairs) {
      const params = new URLSearchParams();
      pairs.forEach(function (p) {
        let value = p[1];
        if (Array.isArray(value)) value = value.join(",");
        if (value === null || value === undefined || value === "") return;
        if (p.length > 2 && String(value) === String(p[2])) return;
        params.set(p[0], String(value));
      });
      const text = params.toString();
      return text ? "?" + text : "";
    },
    associationsSearch: function (table, q, method, klass, xs, ys, selected, names) {
      const pairs = [["pair", (names && names[table]) || table], ["q", q, 0.05],
                     ["method", method], ["class", klass], ["feature", xs], ["gene", ys]];
      if (selected && selected.table === table) {
        pairs.push(["x", selected.x]);
        pairs.push(["y", selected.y]);
      }
      return window.dash_clientside.rg.query(pairs);
    },
    patientSearch: function (shown) {
      return window.dash_clientside.rg.query([["patient", shown]]);
    },
    print: function () {
      window.print();
      return window.dash_clientside.no_update;
    },
    survivalSearch: function (variable, split, cutoff, covariates) {
      const value = split === "cutoff" ? (cutoff === null || cutoff === undefined ? "" : cutoff)
        : split;
      return window.dash_clientside.rg.query([["variable", variable], ["split", value],
                                             ["adjust", covariates || []]]);
    }
  }
});
