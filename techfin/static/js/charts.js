// Charts of the operator pages, drawn with the vendored ECharts (static/vendor/echarts).
// No inline scripts (CSP): each chart is a <div data-chart="{json}"> holding
// {kind: bar | line | funnel (drawn as bars) | pie, title, labels: [...], series: [{name, data: [...]}]};
// the table behind every chart is printed next to it, so nothing depends on this script.
(function () {
  "use strict";

  function option(spec) {
    var base = {
      tooltip: { trigger: spec.kind === "pie" ? "item" : "axis" },
      legend: { top: 0, type: "scroll" },
      grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true },
      animation: false
    };
    if (spec.kind === "pie") {
      var first = spec.series[0] || { name: "", data: [] };
      base.series = [{
        name: first.name,
        type: "pie",
        top: 40,
        label: { show: true, position: "outside", formatter: "{b}: {c}" },
        data: spec.labels.map(function (label, i) { return { name: label, value: first.data[i] }; })
      }];
      return base;
    }
    if (spec.kind === "funnel") {
      // A funnel as bars, first stage on top: lengths compare exactly, and the page needs only
      // ECharts' "common" build (no funnel series), a third lighter than the full one.
      var steps = spec.series[0] || { name: "", data: [] };
      base.xAxis = { type: "value" };
      base.yAxis = { type: "category", data: spec.labels, inverse: true };
      base.series = [{ name: steps.name, type: "bar", data: steps.data,
                       label: { show: true, position: "right" } }];
      return base;
    }
    base.xAxis = { type: "category", data: spec.labels, axisLabel: { interval: 0, rotate: spec.labels.length > 6 ? 30 : 0 } };
    base.yAxis = { type: "value" };
    base.series = spec.series.map(function (s) {
      return { name: s.name, type: spec.kind === "line" ? "line" : "bar", data: s.data };
    });
    return base;
  }

  // ECharts (650 KB) is fetched when the first chart comes near the screen, and each chart is
  // drawn as it does: a phone showing the key figures does not pay for the charts below them.
  var library = document.currentScript && document.currentScript.getAttribute("data-echarts");
  var pending = Array.prototype.slice.call(document.querySelectorAll("[data-chart]"));
  var charts = [];
  var loading = false;

  function draw(el) {
    var spec;
    try { spec = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption(option(spec));
    charts.push(chart);
  }

  function withLibrary(then) {
    if (typeof window.echarts !== "undefined") { then(); return; }
    if (loading || !library) { return; }
    loading = true;
    var script = document.createElement("script");
    script.src = library;
    script.onload = then;
    document.head.appendChild(script);
  }

  pending.forEach(function (el) {
    el.style.height = (el.getAttribute("data-height") || "320") + "px"; // no layout shift later
  });
  var waiting = [];
  function flush() {
    waiting.splice(0).forEach(draw);
  }
  var seen = function (el) {
    waiting.push(el);
    withLibrary(flush);
  };
  if ("IntersectionObserver" in window) {
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) { observer.unobserve(entry.target); seen(entry.target); }
      });
    }, { rootMargin: "200px 0px" });
    pending.forEach(function (el) { observer.observe(el); });
  } else {
    pending.forEach(seen);
  }
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
})();
