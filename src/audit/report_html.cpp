// audit.html: one self-contained page (inline CSS, no scripts, nothing fetched) that shows
// the audit at a glance: the summary table with verdict badges, then per prompt three
// heatmaps of layers x stage points (global relative L2, local ratio of each route), with
// exact values in hover titles and the root-cause cell outlined.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "audit/report.h"
#include "audit/report_format.h"

namespace greta::audit {

namespace {

using namespace report_detail;

std::string esc(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

// Exact enough for a hover title: more digits than the tables show.
std::string exact(double v) {
  if (!std::isfinite(v) || v == 0) return format_error(v);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6e", v);
  return buf;
}

std::string verdict_class(const std::string& name) {
  std::string c = "badge b-";
  for (char ch : name) c += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return c;
}

std::string badge(const std::string& name) { return "<span class=\"" + verdict_class(name) + "\">" + esc(name) + "</span>"; }

// ---- colour scales ------------------------------------------------------------------

struct Stop {
  double at;
  int r, g, b;
};

std::string hex_colour(int r, int g, int b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", r, g, b);
  return buf;
}

std::string interpolate(const std::vector<Stop>& stops, double t) {
  t = std::clamp(t, stops.front().at, stops.back().at);
  for (size_t i = 1; i < stops.size(); ++i) {
    if (t > stops[i].at) continue;
    const Stop &a = stops[i - 1], &b = stops[i];
    const double f = b.at > a.at ? (t - a.at) / (b.at - a.at) : 1.0;
    auto mix = [f](int x, int y) { return static_cast<int>(std::lround(x + f * (y - x))); };
    return hex_colour(mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b));
  }
  return hex_colour(stops.back().r, stops.back().g, stops.back().b);
}

constexpr const char* kNanColour = "#000000";
constexpr const char* kExactColour = "#eaf5ec";
constexpr const char* kUncheckedColour = "#ffffff";

// Global error, on a log scale centred on the tolerance: green far below it, yellow at
// it, red far above it, so "above tolerance" reads as warm at a glance.
const std::vector<Stop> kGlobalStops = {
    {-6, 0x1a, 0x98, 0x50}, {-3, 0x91, 0xcf, 0x60}, {0, 0xfe, 0xe0, 0x8b}, {2, 0xfc, 0x8d, 0x59}, {4, 0xb2, 0x18, 0x2b}};
// Local ratio (error / rounding budget): blues up to the budget, reds beyond it; the jump
// at 1 is deliberate because crossing the budget means a bug.
const std::vector<Stop> kWithinBudgetStops = {{-6, 0xf0, 0xf6, 0xfc}, {-3, 0xa6, 0xce, 0xe3}, {0, 0x1f, 0x6f, 0xb4}};
const std::vector<Stop> kOverBudgetStops = {{0, 0xfc, 0x92, 0x72}, {1, 0xde, 0x2d, 0x26}, {3, 0x67, 0x00, 0x0d}};

double scale_centre(double tolerance) { return tolerance > 0 && std::isfinite(tolerance) ? tolerance : 1e-4; }

std::string global_colour(double rel_l2, bool bit_equal, double tolerance) {
  if (std::isnan(rel_l2)) return kNanColour;
  if (bit_equal || rel_l2 == 0) return kExactColour;
  if (std::isinf(rel_l2)) return interpolate(kGlobalStops, 1e9);
  return interpolate(kGlobalStops, std::log10(rel_l2 / scale_centre(tolerance)));
}

std::string ratio_colour(const LocalCheck& c) {
  if (!c.checked) return kUncheckedColour;
  if (std::isnan(c.ratio)) return kNanColour;
  if (c.ratio <= 0) return interpolate(kWithinBudgetStops, -1e9);
  const double t = std::log10(c.ratio);
  return c.ratio > 1 ? interpolate(kOverBudgetStops, t) : interpolate(kWithinBudgetStops, t);
}

// ---- heatmaps -----------------------------------------------------------------------

enum class MapKind { Global, LocalPrefill, LocalDecode };

struct Grid {
  std::vector<int> layers;                  // rows; -1 (model-level stages) last
  std::vector<trace::Point> points;         // columns, pipeline order
  std::map<std::pair<int, int>, const StageResult*> cells;  // (layer, point) -> stage
};

Grid grid_of(const PromptAudit& p) {
  Grid g;
  std::set<int> layers;
  std::set<int> points;
  for (const auto& s : p.stages) {
    layers.insert(s.id.layer);
    points.insert(static_cast<int>(s.id.point));
    g.cells[{s.id.layer, static_cast<int>(s.id.point)}] = &s;
  }
  for (int l : layers)
    if (l >= 0) g.layers.push_back(l);
  if (layers.count(-1)) g.layers.push_back(-1);
  for (int pt : points) g.points.push_back(static_cast<trace::Point>(pt));
  return g;
}

bool is_at(const StageId& a, int layer, trace::Point point) { return a.layer == layer && a.point == point; }

bool root_in_map(const PromptAudit& p, MapKind kind, int layer, trace::Point point) {
  if (!p.root_cause || !is_at(p.root_cause->stage, layer, point)) return false;
  const std::string& route = p.root_cause->route;
  switch (kind) {
    case MapKind::Global: return true;
    case MapKind::LocalPrefill: return route == "prefill" || route == "both";
    case MapKind::LocalDecode: return route == "decode" || route == "both";
  }
  return false;
}

std::string cell_title(const StageResult& s, MapKind kind) {
  std::string t = stage_label(s.id) + ": ";
  if (kind == MapKind::Global) {
    t += "rel L2 " + exact(s.rel_l2) + ", MAE " + exact(s.mae) + ", max |Δ| " + exact(s.max_abs) +
         (s.bit_equal ? ", bit-equal" : ", not bit-equal");
    return t;
  }
  const LocalCheck& c = kind == MapKind::LocalPrefill ? s.local_prefill : s.local_decode;
  if (!c.checked) return t + "not checked";
  return t + "local error " + exact(c.max_error) + " = " + exact(c.ratio) + "× its rounding budget" +
         (c.violated() ? " (over budget)" : "");
}

std::string heat_cell(const PromptAudit& p, const StageResult* s, MapKind kind, double tolerance) {
  if (!s) return "<td class=\"none\"></td>";
  std::string colour, mark;
  if (kind == MapKind::Global) {
    colour = global_colour(s->rel_l2, s->bit_equal, tolerance);
  } else {
    const LocalCheck& c = kind == MapKind::LocalPrefill ? s->local_prefill : s->local_decode;
    colour = ratio_colour(c);
    if (c.violated()) mark = "✗";
  }
  std::string cls = "c";
  if (root_in_map(p, kind, s->id.layer, s->id.point)) cls += " root";
  else if (kind == MapKind::Global && p.first_mismatch && is_at(*p.first_mismatch, s->id.layer, s->id.point))
    cls += " first";
  if (colour == kNanColour) mark = "?";
  return "<td class=\"" + cls + "\" style=\"background:" + colour + "\" title=\"" + esc(cell_title(*s, kind)) + "\">" +
         mark + "</td>";
}

std::string heatmap(const PromptAudit& p, const Grid& g, MapKind kind, double tolerance) {
  std::string out = "<table class=\"heat\"><tr><th></th>";
  for (trace::Point pt : g.points) out += "<th class=\"pt\">" + esc(std::string(trace::point_name(pt))) + "</th>";
  out += "</tr>\n";
  for (int layer : g.layers) {
    out += "<tr><th class=\"layer\">" + (layer >= 0 ? "L" + std::to_string(layer) : std::string("out")) + "</th>";
    for (trace::Point pt : g.points) {
      const auto it = g.cells.find({layer, static_cast<int>(pt)});
      out += heat_cell(p, it == g.cells.end() ? nullptr : it->second, kind, tolerance);
    }
    out += "</tr>\n";
  }
  return out + "</table>\n";
}

std::string swatch(const std::string& colour, const std::string& label) {
  return "<span class=\"sw\"><i style=\"background:" + colour + "\"></i>" + esc(label) + "</span>";
}

std::string global_legend(double tolerance) {
  const double centre = scale_centre(tolerance);
  std::string out = "<div class=\"legend\">" + swatch(kExactColour, "bit-equal");
  for (int k = -6; k <= 4; k += 2)
    out += swatch(interpolate(kGlobalStops, k), (k == 0 ? "tolerance " : "") + format_error(centre * std::pow(10.0, k)));
  return out + swatch(kNanColour, "NaN") + "</div>\n";
}

std::string ratio_legend() {
  std::string out = "<div class=\"legend\">" + swatch(kUncheckedColour, "not checked");
  for (int k : {-6, -4, -2, 0}) out += swatch(interpolate(kWithinBudgetStops, k), format_error(std::pow(10.0, k)));
  for (int k : {0, 1, 2, 3})
    out += swatch(interpolate(kOverBudgetStops, k), (k == 0 ? "just over budget " : ">") + format_error(std::pow(10.0, k)));
  return out + swatch(kNanColour, "NaN") + "</div>\n";
}

// ---- page ---------------------------------------------------------------------------

constexpr const char* kStyle = R"(
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 12px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse}
table.meta td{padding:1px 12px 1px 0;vertical-align:top}table.meta td:first-child{color:#57606a}
table.summary th,table.summary td,table.stages th,table.stages td{border:1px solid #d0d7de;padding:3px 7px;text-align:left;white-space:nowrap}
table.summary th,table.stages th{background:#f6f8fa;font-weight:600}
table.summary td,table.stages td{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font:600 12px system-ui,sans-serif}
.b-exact{background:#1a7f37}.b-pass{background:#4ac26b}.b-drift{background:#bf8700}.b-mismatch{background:#cf222e}
.b-collapse{background:#8250df}
.maps{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
figure{margin:0}figcaption{font-weight:600;margin-bottom:6px}
table.heat td.c,table.heat td.none{width:16px;min-width:16px;height:16px;padding:0;border:1px solid #fff;
  font-size:11px;text-align:center;color:#fff;line-height:16px}
table.heat td.none{background:#f6f8fa}
table.heat td.root{outline:3px solid #000;outline-offset:-1px}
table.heat td.first{outline:2px dashed #000;outline-offset:-2px}
table.heat th.pt{writing-mode:vertical-rl;transform:rotate(180deg);font:11px ui-monospace,monospace;padding:2px 0}
table.heat th.layer{font:11px ui-monospace,monospace;text-align:right;padding-right:4px}
.legend{margin-top:6px;font-size:11px;max-width:460px}
.sw{display:inline-block;margin:0 8px 3px 0;white-space:nowrap}
.sw i{display:inline-block;width:12px;height:12px;border:1px solid #bbb;vertical-align:-2px;margin-right:3px}
.over{color:#cf222e;font-weight:700}
ul.notes{padding-left:18px}
)";

std::string meta_table(const AuditReport& r) {
  std::string faults;
  for (size_t i = 0; i < r.faults.size(); ++i) faults += (i ? ", " : "") + r.faults[i];
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.2f s", r.seconds);
  const std::pair<const char*, std::string> rows[] = {
      {"model", r.model},
      {"backend", r.backend},
      {"numeric contract", r.contract},
      {"routes", r.route_config},
      {"tolerance", format_error(r.tolerance) + " (global relative L2)"},
      {"faults injected", faults.empty() ? "none" : faults},
      {"exit code", std::to_string(r.exit_code())},
      {"time", seconds},
  };
  std::string out = "<table class=\"meta\">";
  for (const auto& [k, v] : rows) out += "<tr><td>" + esc(k) + "</td><td>" + esc(v) + "</td></tr>";
  return out + "</table>\n";
}

std::string summary_html(const AuditReport& r) {
  const SummaryCells t = summary_cells(r);
  std::string out = "<table class=\"summary\"><tr>";
  for (const auto& h : t.header) out += "<th>" + esc(h) + "</th>";
  out += "</tr>\n";
  const size_t collapse_col = t.header.size() - 2, verdict_col = t.header.size() - 1;
  for (size_t i = 0; i < t.rows.size(); ++i) {
    out += "<tr>";
    for (size_t c = 0; c < t.rows[i].size(); ++c) {
      const std::string& cell = t.rows[i][c];
      if (c == 0)
        out += "<td><a href=\"#prompt-" + std::to_string(i) + "\">" + esc(cell) + "</a></td>";
      else if (c == verdict_col)
        out += "<td>" + badge(cell) + "</td>";
      else if (c == collapse_col && cell == "yes")
        out += "<td>" + badge("COLLAPSE") + "</td>";
      else
        out += "<td>" + esc(cell) + "</td>";
    }
    out += "</tr>\n";
  }
  out += "</table>\n<ul class=\"notes\">";
  for (const auto& note : summary_notes(r)) out += "<li>" + esc(note) + "</li>";
  return out + "</ul>\n";
}

std::string ratio_text(const LocalCheck& c) {
  if (!c.checked) return "-";
  if (c.violated() || std::isnan(c.ratio)) return "<span class=\"over\">" + esc(format_error(c.ratio)) + " ✗</span>";
  return esc(format_error(c.ratio));
}

std::string stage_table(const PromptAudit& p) {
  std::string out =
      "<details><summary>every stage</summary><table class=\"stages\"><tr><th>layer</th><th>point</th><th>MAE</th>"
      "<th>max |Δ|</th><th>rel L2</th><th>bit-equal</th><th>local prefill ratio</th><th>local decode ratio</th></tr>\n";
  for (const auto& s : p.stages) {
    out += "<tr><td>" + (s.id.layer >= 0 ? std::to_string(s.id.layer) : std::string("-")) + "</td><td>" +
           esc(std::string(trace::point_name(s.id.point))) + "</td><td>" + esc(format_error(s.mae)) + "</td><td>" +
           esc(format_error(s.max_abs)) + "</td><td>" + esc(format_error(s.rel_l2)) + "</td><td>" +
           (s.bit_equal ? "yes" : "no") + "</td><td>" + ratio_text(s.local_prefill) + "</td><td>" +
           ratio_text(s.local_decode) + "</td></tr>\n";
  }
  return out + "</table></details>\n";
}

std::string prompt_html(const PromptAudit& p, size_t index, double tolerance) {
  const std::string name = verdict_name(p.verdict);
  std::string out = "<section id=\"prompt-" + std::to_string(index) + "\"><h2>Prompt " + esc(p.id) + " " +
                    badge(name) + (p.collapse || p.span.collapse ? " " + badge("COLLAPSE") : "") + "</h2>\n";
  out += "<p>" + esc(verdict_sentence(p, tolerance)) + "</p>\n<p>";
  out += "root cause: <b>" + esc(p.root_cause ? root_cause_label(*p.root_cause) : std::string("none")) + "</b>";
  if (p.root_cause) out += " (" + esc(format_error(p.root_cause->ratio)) + "× its rounding budget)";
  out += " &middot; first mismatch: <b>" + esc(p.first_mismatch ? stage_label(*p.first_mismatch) : std::string("none")) +
         "</b> &middot; top-1 prefill_last " + esc(token_label(p.prefill_last_top1)) + ", decode0 " +
         esc(token_label(p.decode0_top1)) + " &middot; " + std::to_string(p.n_tokens) + " tokens</p>\n";
  if (p.stages.empty()) return out + "<p>No stages were recorded for this prompt.</p></section>\n";

  const Grid g = grid_of(p);
  out += "<div class=\"maps\">\n";
  out += "<figure><figcaption>global error: rel L2, prefill_last vs decode0</figcaption>\n" +
         heatmap(p, g, MapKind::Global, tolerance) + global_legend(tolerance) + "</figure>\n";
  out += "<figure><figcaption>local error / budget: prefill route</figcaption>\n" +
         heatmap(p, g, MapKind::LocalPrefill, tolerance) + ratio_legend() + "</figure>\n";
  out += "<figure><figcaption>local error / budget: decode route</figcaption>\n" +
         heatmap(p, g, MapKind::LocalDecode, tolerance) + ratio_legend() + "</figure>\n";
  out += "</div>\n<p class=\"legend\">Solid outline: root cause. Dashed outline: first stage above the tolerance. "
         "✗: over its rounding budget. Hover a cell for exact values.</p>\n";
  return out + stage_table(p) + "</section>\n";
}

}  // namespace

std::string report_html(const AuditReport& r) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>greta audit: " +
                    esc(verdict_name(r.verdict)) + " " + esc(r.model) + "</title>\n<style>" + kStyle +
                    "</style>\n</head><body>\n";
  out += "<h1>greta audit " + badge(verdict_name(r.verdict)) + (r.collapse ? " " + badge("COLLAPSE") : "") + "</h1>\n";
  out += meta_table(r);
  out += "<h2>Summary</h2>\n" + summary_html(r);
  for (size_t i = 0; i < r.prompts.size(); ++i) out += prompt_html(r.prompts[i], i, r.tolerance);
  return out + "</body></html>\n";
}

}  // namespace greta::audit
