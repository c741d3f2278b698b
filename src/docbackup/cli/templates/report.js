// Draws each `.chart` container from the embedded nights: one slot per calendar day, a bar per
// night that ran (red, with a dot above, when it was partial or unreadable), an x where no night
// ran. Every figure a tooltip shows is prepared in Python, so the script only scales and places.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("nights").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var H = 150, TOP = 18, BASE = 128;
  var byDate = {};
  data.nights.forEach(function (n) { byDate[n.date] = n; });

  function el(name, attrs, parent, text) {
    var node = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }

  document.querySelectorAll(".chart").forEach(function (box) {
    // Drawn at the container's own width, so labels stay readable on a phone and bars fill
    // a desktop; the viewBox then scales the drawing as a whole for print.
    var W = Math.max(box.clientWidth, 300), slot = W / data.days.length;
    var field = box.getAttribute("data-field"), unit = box.getAttribute("data-unit");
    var max = 0, maxLabel = "0";
    data.nights.forEach(function (n) {
      if (data.days.indexOf(n.date) >= 0 && n[field] > max) {
        max = n[field];
        maxLabel = field === "bytes" ? n.size : String(n[field]);
      }
    });
    var svg = el("svg", {viewBox: "0 0 " + W + " " + H, role: "img",
                         "aria-label": box.getAttribute("data-title")}, box);
    el("line", {x1: 0, x2: W, y1: BASE, y2: BASE, "class": "axis"}, svg);
    el("text", {x: 2, y: 11, "class": "label"}, svg, "max " + maxLabel + " " + unit);
    var drawn = 0;
    data.days.forEach(function (day, i) {
      var x = i * slot, n = byDate[day];
      var fromEnd = data.days.length - 1 - i;
      if (fromEnd % 7 === 0) {
        el("text", {x: fromEnd ? x + slot / 2 : W, y: H - 4, "class": "label",
                    "text-anchor": fromEnd ? "middle" : "end"}, svg, day.slice(5));
      }
      if (!n) {
        var gap = el("text", {x: x + slot / 2, y: BASE - 3, "class": "gap",
                              "text-anchor": "middle"}, svg, "\u00d7");
        el("title", {}, gap, day + ": no run");
        return;
      }
      // A night with nothing stored still gets a sliver, so a failed night is never invisible.
      var h = Math.max(max ? (n[field] / max) * (BASE - TOP) : 0, 2);
      var bad = n.status !== "complete";
      var bar = el("rect", {x: x + slot * 0.15, y: BASE - h, width: slot * 0.7, height: h,
                            "class": bad ? "bar bar-bad" : "bar", "data-date": day}, svg);
      el("title", {}, bar, n.tip);
      if (bad) {
        var dot = el("circle", {cx: x + slot / 2, cy: BASE - h - 6, r: 3.5, "class": "marker"},
                     svg);
        el("title", {}, dot, n.tip);
      }
      drawn += 1;
    });
    box.setAttribute("data-drawn", String(drawn));
  });
})();
