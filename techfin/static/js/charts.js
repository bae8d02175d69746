// Charts of the operator pages, drawn with the vendored ECharts (static/vendor/echarts).
// No inline scripts (CSP): each chart is a <div data-chart="{json}"> holding
// {kind: bar | line | funnel | pie, title, labels: [...], series: [{name, data: [...]}]};
// the table behind every chart is printed next to it, so nothing depends on this script.
(function () {
  "use strict";
  if (typeof window.echarts === "undefined") { return; }

  function option(spec) {
    var base = {
      tooltip: { trigger: spec.kind === "funnel" || spec.kind === "pie" ? "item" : "axis" },
      legend: { top: 0, type: "scroll" },
      grid: { left: 8, right: 16, top: 40, bottom: 8, containLabel: true },
      animation: false
    };
    if (spec.kind === "funnel" || spec.kind === "pie") {
      var first = spec.series[0] || { name: "", data: [] };
      base.series = [{
        name: first.name,
        type: spec.kind,
        top: 40,
        sort: "none",
        label: { show: true, position: spec.kind === "funnel" ? "inside" : "outside",
                 formatter: "{b}: {c}" },
        data: spec.labels.map(function (label, i) { return { name: label, value: first.data[i] }; })
      }];
      return base;
    }
    base.xAxis = { type: "category", data: spec.labels, axisLabel: { interval: 0, rotate: spec.labels.length > 6 ? 30 : 0 } };
    base.yAxis = { type: "value" };
    base.series = spec.series.map(function (s) {
      return { name: s.name, type: spec.kind === "line" ? "line" : "bar", data: s.data };
    });
    return base;
  }

  var charts = [];
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var spec;
    try { spec = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
    el.style.height = (el.getAttribute("data-height") || "320") + "px";
    var chart = window.echarts.init(el, null, { renderer: "svg" });
    chart.setOption(option(spec));
    charts.push(chart);
  });
  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
})();
