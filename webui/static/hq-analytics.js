// HQ analytics: each <figure data-chart> draws the table named by data-for with Chart.js
// (chart.umd.min.js, vendored, decisions.md §59). The table is the source of truth: the chart
// reads its row headers as labels and the data-value of the columns in data-series.
"use strict";
(function () {
  const COLOURS = ["#22c55e", "#60a5fa", "#fbbf24", "#f472b6"];

  function number(cell) {
    const raw = cell ? cell.getAttribute("data-value") : null;
    if (raw === null || raw === "") return null;
    const value = Number(raw);
    return Number.isFinite(value) ? value : null;
  }

  function draw(figure) {
    const table = document.getElementById(figure.getAttribute("data-for"));
    const canvas = figure.querySelector("canvas");
    if (!table || !canvas || typeof window.Chart !== "function") return;
    const series = figure.getAttribute("data-series").split(",").map(Number);
    const heads = Array.from(table.tHead.rows[0].cells).map((c) => c.textContent.trim());
    const rows = Array.from(table.tBodies[0].rows).filter((r) => r.cells.length > 1);
    if (rows.length === 0) {
      figure.hidden = true;
      return;
    }
    const labels = rows.map((r) => r.cells[0].childNodes[0].textContent.trim());
    const type = figure.getAttribute("data-chart") === "bar" ? "bar" : "line";
    const datasets = series.map((column, n) => ({
      label: heads[column],
      data: rows.map((r) => number(r.cells[column])),
      borderColor: COLOURS[n % COLOURS.length],
      backgroundColor: COLOURS[n % COLOURS.length],
      pointRadius: rows.length > 60 ? 0 : 2,
      spanGaps: false,
    }));
    window.Chart.defaults.color = "#cbd5e1";
    window.Chart.defaults.borderColor = "#334155";
    new window.Chart(canvas, {
      type: type,
      data: { labels: labels, datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom" } },
        scales: { y: { beginAtZero: true } },
      },
    });
    figure.setAttribute("data-drawn", "true");
  }

  function start() {
    document.querySelectorAll("figure[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
