// The fixed-width summary table and writing every report file into one directory.
#include "audit/report.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "audit/report_format.h"
#include "greta/error.h"

namespace greta::audit {

namespace {

// Width on a terminal: UTF-8 continuation bytes take no column.
size_t display_width(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++w;
  return w;
}

std::string table_line(const std::vector<std::string>& cells, const std::vector<size_t>& widths) {
  std::string line = "|";
  for (size_t i = 0; i < cells.size(); ++i)
    line += " " + cells[i] + std::string(widths[i] - display_width(cells[i]), ' ') + " |";
  return line + "\n";
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw InputError(path.string() + ": cannot open the report file for writing");
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) throw InputError(path.string() + ": cannot write the report file");
}

}  // namespace

std::string summary_table(const AuditReport& r) {
  const report_detail::SummaryCells t = report_detail::summary_cells(r);
  std::vector<size_t> widths;
  for (const auto& h : t.header) widths.push_back(display_width(h));
  for (const auto& row : t.rows)
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], display_width(row[i]));

  std::string out = table_line(t.header, widths);
  std::string rule = "|";
  for (size_t w : widths) rule += std::string(w + 2, '-') + "|";
  out += rule + "\n";
  for (const auto& row : t.rows) out += table_line(row, widths);
  for (const auto& note : report_detail::summary_notes(r)) out += note + "\n";
  return out;
}

void write_reports(const AuditReport& r, const std::vector<TraceRow>& rows, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError(dir + ": cannot create the report directory: " + ec.message());
  const std::filesystem::path base(dir);
  write_file(base / "trace.jsonl", trace_jsonl(rows));
  write_file(base / "audit.md", report_markdown(r));
  write_file(base / "audit.json", report_json(r));
  write_file(base / "audit.html", report_html(r));
}

}  // namespace greta::audit
