#pragma once
// Small formatting pieces shared by the audit report writers, so that the text table,
// audit.md, audit.json and audit.html name stages and print numbers the same way.
#include <string>
#include <vector>

#include "audit/audit.h"

namespace greta::audit::report_detail {

// An error value: "7.40e-04", "0" for exact zero, "nan" / "inf" for non-finite values.
std::string format_error(double v);
// A stage label: "wo_out@L3", or just the point for model-level stages (layer -1).
std::string stage_label(const StageId& s);
// "decode:wo_out@L3".
std::string root_cause_label(const RootCause& rc);
// A token id, or "-" when the run did not produce one (-1).
std::string token_label(int32_t token);
// A local-error ratio for a table cell: "-" when the stage was not checked.
std::string ratio_label(const LocalCheck& c);

bool has_point(const PromptAudit& p, trace::Point point);
// The larger ratio of the two routes' local checks (0 when neither was checked).
double worst_local_ratio(const StageResult& s);

// The stage where the global relative L2 error grows by the largest factor over the stage
// before it in pipeline order (nullptr if the error never grows from a nonzero value).
const StageResult* fastest_growth(const PromptAudit& p, double* factor);
// The stage with the largest global relative L2 error (nullptr if there are no stages).
const StageResult* largest_rel_l2(const PromptAudit& p);

// One sentence saying what the prompt's verdict means for this prompt.
std::string verdict_sentence(const PromptAudit& p, double tolerance);

// The summary table as cells: the header, then one row per prompt.
struct SummaryCells {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};
SummaryCells summary_cells(const AuditReport& r);

// The lines under the summary table: overall verdict, faults, collapse, span gates, repeat.
std::vector<std::string> summary_notes(const AuditReport& r);

}  // namespace greta::audit::report_detail
