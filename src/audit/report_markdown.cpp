// audit.md: the run's setup, the summary table and, per prompt, what its verdict means
// and every stage's global and local error.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string_view>

#include "audit/report.h"
#include "audit/report_format.h"

namespace greta::audit {

namespace {

using namespace report_detail;

// Backslash-escapes the punctuation Markdown would read as markup (CommonMark allows a
// backslash before any ASCII punctuation), so names the user chose print literally.
// An underscore inside a word (wo_out) is never emphasis, so it stays unescaped to keep
// the plain text readable.
std::string md_escape(const std::string& s) {
  auto word_char = [&](size_t i) { return i < s.size() && std::isalnum(static_cast<unsigned char>(s[i])); };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\n' || c == '\r') {
      out += ' ';
      continue;
    }
    const bool inner_underscore = c == '_' && i > 0 && word_char(i - 1) && word_char(i + 1);
    if (!inner_underscore && std::string_view("\\`*_[]<>|#&!").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string md_row(const std::vector<std::string>& cells) {
  std::string line = "|";
  for (const auto& c : cells) line += " " + c + " |";
  return line + "\n";
}

std::string md_rule(size_t n) {
  std::string line = "|";
  for (size_t i = 0; i < n; ++i) line += "---|";
  return line + "\n";
}

// A local ratio cell; over budget is bold with a cross so it stands out in the table.
std::string ratio_cell(const LocalCheck& c) {
  if (!c.checked) return "-";
  if (c.violated() || std::isnan(c.ratio)) return "**" + format_error(c.ratio) + "** ✗";
  return format_error(c.ratio);
}

std::string stage_table(const PromptAudit& p) {
  std::string out = md_row({"layer", "point", "MAE", "max\\|Δ\\|", "rel L2", "bit-equal", "local prefill ratio",
                            "local decode ratio"});
  out += md_rule(8);
  for (const auto& s : p.stages) {
    out += md_row({s.id.layer >= 0 ? std::to_string(s.id.layer) : "-", std::string(trace::point_name(s.id.point)),
                   format_error(s.mae), format_error(s.max_abs), format_error(s.rel_l2), s.bit_equal ? "yes" : "no",
                   ratio_cell(s.local_prefill), ratio_cell(s.local_decode)});
  }
  return out;
}

std::string prompt_section(const PromptAudit& p, double tolerance) {
  std::string out = "## Prompt " + md_escape(p.id) + ": " + verdict_name(p.verdict) + "\n\n";
  out += verdict_sentence(p, tolerance) + "\n\n";
  out += "- tokens: " + std::to_string(p.n_tokens) + "\n";
  out += "- first mismatch: " + (p.first_mismatch ? "`" + stage_label(*p.first_mismatch) + "`" : std::string("none")) +
         "\n";
  if (p.root_cause)
    out += "- root cause: `" + root_cause_label(*p.root_cause) + "`, local error " + format_error(p.root_cause->ratio) +
           "× its rounding budget\n";
  else
    out += "- root cause: none\n";
  out += "- top-1: prefill_last " + token_label(p.prefill_last_top1) + ", decode0 " + token_label(p.decode0_top1) +
         (p.collapse ? " (part of a cross-prompt collapse)" : "") + "\n";
  if (p.span.ran) {
    std::string tokens;
    for (int32_t t : p.span.decode_tokens) {
      if (!tokens.empty()) tokens += ' ';
      tokens += std::to_string(t);
    }
    out += "- span gate: " + std::string(p.span.passed ? "PASS" : "**FAIL**") + ", decode tokens: " +
           (tokens.empty() ? "none" : tokens) + "\n";
  }
  out += "\n";
  if (p.stages.empty())
    out += "No stages were recorded for this prompt.\n\n";
  else
    out += stage_table(p) + "\n";
  return out;
}

}  // namespace

std::string report_markdown(const AuditReport& r) {
  std::string out = "# greta audit\n\n";
  std::string faults;
  for (size_t i = 0; i < r.faults.size(); ++i) faults += (i ? ", " : "") + std::string("`") + r.faults[i] + "`";
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.2f s", r.seconds);
  out += "- model: " + md_escape(r.model) + "\n";
  out += "- backend: " + md_escape(r.backend) + "\n";
  out += "- numeric contract: " + md_escape(r.contract) + "\n";
  out += "- routes: " + md_escape(r.route_config) + "\n";
  out += "- tolerance: " + format_error(r.tolerance) + " (global relative L2)\n";
  out += "- faults: " + (faults.empty() ? std::string("none") : faults) + "\n";
  out += "- verdict: **" + std::string(verdict_name(r.verdict)) + "**" + (r.collapse ? " + **COLLAPSE**" : "") +
         ", exit code " + std::to_string(r.exit_code()) + "\n";
  out += "- time: " + std::string(seconds) + "\n\n";

  out += "## Summary\n\n";
  const SummaryCells t = summary_cells(r);
  out += md_row(t.header) + md_rule(t.header.size());
  for (auto row : t.rows) {
    row[0] = md_escape(row[0]);
    row[2] = md_escape(row[2]);
    out += md_row(row);
  }
  out += "\n";
  for (const auto& note : summary_notes(r)) out += "- " + md_escape(note) + "\n";
  out += "\n";

  for (const auto& p : r.prompts) out += prompt_section(p, r.tolerance);
  return out;
}

}  // namespace greta::audit
