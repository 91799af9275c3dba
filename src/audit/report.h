#pragma once
// Writing an audit report: the summary table (stdout and audit.md), audit.json,
// audit.html (a self-contained heatmap page) and trace.jsonl.
#include <string>
#include <vector>

#include "audit/audit.h"

namespace greta::audit {

// The summary table, one row per prompt (GRETA CORE's B3.39 table, generalized).
std::string summary_table(const AuditReport& r);
std::string report_markdown(const AuditReport& r);
std::string report_json(const AuditReport& r);
std::string report_html(const AuditReport& r);
std::string trace_jsonl(const std::vector<TraceRow>& rows);

// Writes trace.jsonl, audit.md, audit.json and audit.html into dir (created if needed).
void write_reports(const AuditReport& r, const std::vector<TraceRow>& rows, const std::string& dir);

}  // namespace greta::audit
