#pragma once
// Fault injection: a deliberate bug placed inside one op, so that everything downstream
// is really affected, to prove that the audit localizes it (DESIGN §6).
//
// Spec grammar: ROUTE:POINT[@LAYER]:KIND[=ARG]
//   ROUTE  prefill | decode | both    (which forward path carries the bug)
//   POINT  a stage point name (trace/stage_point.h)
//   LAYER  a layer index; omitted = every layer (ignored for final_norm / logits)
//   KIND   transpose          matrix points only: the weight is read with rows and columns swapped
//          offset=N           x_in: embedding row of token id - N; q_rope/k_rope: the angle of
//                             position pos - N; attn_out: the KV window read N rows earlier;
//                             any other point: the op's input read N elements earlier (rotated)
//          scale=F            the op's output multiplied by F
//          zero               the op's output set to 0
//          noise=S            relative Gaussian noise of scale S·rms(output), seeded
//          skip               the op passes its (first) input through unchanged
#include <cstdint>
#include <string>
#include <vector>

#include "trace/stage_point.h"

namespace greta {

enum class FaultKind { Transpose, Offset, Scale, Zero, Noise, Skip };
enum class Path { Prefill, Decode };
const char* path_name(Path p);

struct Fault {
  bool on_prefill = false;
  bool on_decode = false;
  trace::Point point = trace::Point::x_in;
  int layer = -1;  // -1: every layer
  FaultKind kind = FaultKind::Scale;
  double arg = 0.0;
  uint64_t seed = 1;
  std::string spec;  // as given

  bool applies(Path path, trace::Point p, int l) const {
    return (path == Path::Prefill ? on_prefill : on_decode) && p == point &&
           (layer < 0 || l < 0 || layer == l);
  }
};

// Parses one spec; InputError (exit 2) with a message on any malformed part, an unknown
// point, a kind that does not fit the point, or a layer outside [0, n_layers).
Fault parse_fault(const std::string& spec, int n_layers);

struct FaultSet {
  std::vector<Fault> faults;
  const Fault* find(Path path, trace::Point p, int layer) const {
    for (const auto& f : faults)
      if (f.applies(path, p, layer)) return &f;
    return nullptr;
  }
  bool empty() const { return faults.empty(); }
};

}  // namespace greta
