// libFuzzer target: any byte string must either parse or throw GgufError — never crash,
// hang, leak or read out of bounds. Everything a caller may touch after a successful
// parse (getters, tensor bytes, describe) is exercised too.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gguf/gguf_file.h"

using greta::gguf::GgufError;
using greta::gguf::GgufFile;

namespace {

volatile uint8_t g_sink;  // keeps the tensor reads from being optimised away

void touch_getters(const GgufFile& f) {
  for (const auto& kv : f.metadata()) {
    try { (void)f.get_uint(kv.key); } catch (const GgufError&) {}
    try { (void)f.get_int(kv.key); } catch (const GgufError&) {}
    try { (void)f.get_float(kv.key); } catch (const GgufError&) {}
    try { (void)f.get_bool(kv.key); } catch (const GgufError&) {}
    try { (void)f.get_string(kv.key); } catch (const GgufError&) {}
    try { (void)f.get_array(kv.key); } catch (const GgufError&) {}
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const GgufFile f = GgufFile::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz.gguf");
    touch_getters(f);
    for (const auto& t : f.tensors()) {
      if (f.find_tensor(t.name) != &t) __builtin_trap();
      if (t.n_bytes == 0) continue;
      const uint8_t* p = f.tensor_data(t);
      g_sink = p[0] ^ p[t.n_bytes - 1];
    }
    (void)describe(f);
  } catch (const GgufError&) {
  }
  return 0;
}
