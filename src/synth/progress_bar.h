#pragma once
// A one-line terminal progress bar for long writes: "[#######.....]  58%  2.8/4.9 GB  1.3 GB/s".
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace greta::synth {

// Renders the bar for (done, total) bytes, without a trailing newline.
std::string format_progress_bar(uint64_t done, uint64_t total, double seconds, int width = 30);

// Callable as a GgufWriter::Progress. Redraws in place with '\r' at most ~10 times a second
// (and always at the end, where it adds the newline) so it costs nothing next to the write.
class ProgressBar {
 public:
  explicit ProgressBar(std::FILE* out = stderr);
  void operator()(uint64_t done, uint64_t total);

 private:
  std::FILE* out_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

// One-shot form for callers that keep no state: print_progress_bar(done, total) draws the
// bar measured from the first call of the process.
void print_progress_bar(uint64_t done, uint64_t total, std::FILE* out = stderr);

}  // namespace greta::synth
