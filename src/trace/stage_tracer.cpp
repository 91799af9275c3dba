#include "trace/stage_tracer.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "greta/error.h"

namespace greta::trace {

StageTracer::StageTracer(TraceConfig cfg, int n_layers) : cfg_(std::move(cfg)) {
  cfg_.check_layers(n_layers);
  out_ = std::fopen(cfg_.out.c_str(), "w");
  if (!out_) throw InputError(cfg_.out + ": cannot open the trace file for writing");
  if (!cfg_.dump_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(cfg_.dump_dir, ec);
    if (ec) throw InputError(cfg_.dump_dir + ": cannot create the dump directory: " + ec.message());
  }
}

StageTracer::~StageTracer() {
  if (out_) std::fclose(out_);
}

void StageTracer::begin_prefill(int32_t first, int32_t n) {
  in_prefill_ = true;
  prefill_last_ = first + n - 1;
}

void StageTracer::begin_decode(int64_t step) {
  in_prefill_ = false;
  decode_step_ = step;
}

std::string StageTracer::phase_of(int32_t pos) const {
  if (!in_prefill_) return "decode" + std::to_string(decode_step_);
  return pos == prefill_last_ ? "prefill_last" : "prefill_row_" + std::to_string(pos);
}

bool StageTracer::wants(Point point, int layer, int32_t pos) const {
  if (!cfg_.points.empty() && !cfg_.points.count(point)) return false;
  if (layer >= 0 && !cfg_.layers.empty() && !cfg_.layers.count(layer)) return false;
  const std::string phase = phase_of(pos);
  if (cfg_.phases.count(phase)) return true;
  return in_prefill_ ? cfg_.phases.count("prefill_all") > 0 : cfg_.phases.count("decode_all") > 0;
}

void StageTracer::record(Point point, int layer, int32_t pos, const float* row, int64_t n) {
  const bool is_logits = point == Point::logits;
  const RowStats s = row_stats(row, n, is_logits);
  const std::string phase = phase_of(pos);
  nlohmann::ordered_json j;
  j["prompt_id"] = cfg_.prompt_id;
  j["phase"] = phase;
  j["point"] = point_name(point);
  j["layer"] = layer;
  j["pos"] = pos;
  j["n"] = n;
  j["hash"] = hash_hex(s.hash);
  j["min"] = s.min;
  j["max"] = s.max;
  j["mean"] = s.mean;
  j["rms"] = s.rms;
  j["abs_max"] = s.abs_max;
  j["nan"] = s.nan;
  j["inf"] = s.inf;
  j["sample"] = std::vector<float>(s.sample.begin(), s.sample.begin() + std::min<int64_t>(8, n));
  if (is_logits) {
    j["top1"] = s.top1;
    j["top1_logit"] = s.top1_logit;
    j["top2"] = s.top2;
    j["top2_logit"] = s.top2_logit;
    j["gap"] = s.gap;
  }
  const std::string line = j.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), out_);
  ++records_;
  if (!cfg_.dump_dir.empty()) {
    // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on "L" + string.
    std::string name = cfg_.prompt_id + "." + phase + ".";
    if (layer >= 0) name.append("L").append(std::to_string(layer)).append(".");
    name.append(point_name(point)).append(".f32");
    const auto path = std::filesystem::path(cfg_.dump_dir) / name;
    if (std::FILE* f = std::fopen(path.string().c_str(), "wb")) {
      std::fwrite(row, sizeof(float), static_cast<size_t>(n), f);
      std::fclose(f);
    } else {
      throw InputError(path.string() + ": cannot write the row dump");
    }
  }
}

}  // namespace greta::trace
