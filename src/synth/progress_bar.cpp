#include "synth/progress_bar.h"

#include <algorithm>
#include <cinttypes>

namespace greta::synth {

std::string format_progress_bar(uint64_t done, uint64_t total, double seconds, int width) {
  const double frac = total == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  const int filled = static_cast<int>(frac * width + 0.5);
  std::string bar = "[" + std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(width - filled), '.') + "]";
  const double gb = 1e9;
  char tail[96];
  const double rate = seconds > 0 ? static_cast<double>(done) / gb / seconds : 0.0;
  std::snprintf(tail, sizeof tail, " %3d%%  %.2f/%.2f GB  %.2f GB/s", static_cast<int>(frac * 100.0),
                static_cast<double>(done) / gb, static_cast<double>(total) / gb, rate);
  return bar + tail;
}

ProgressBar::ProgressBar(std::FILE* out) : out_(out), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void ProgressBar::operator()(uint64_t done, uint64_t total) {
  const auto now = std::chrono::steady_clock::now();
  const bool finished = done >= total;
  if (!finished && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  drawn_ = true;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  std::fprintf(out_, "\r%s%s", format_progress_bar(done, total, seconds).c_str(), finished ? "\n" : "");
  std::fflush(out_);
}

void print_progress_bar(uint64_t done, uint64_t total, std::FILE* out) {
  static ProgressBar bar(out);
  bar(done, total);
}

}  // namespace greta::synth
