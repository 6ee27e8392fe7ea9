// Declarations only (see README.md).
#ifndef EDGEGRU_STUB_MICRO_MUTABLE_OP_RESOLVER_H_
#define EDGEGRU_STUB_MICRO_MUTABLE_OP_RESOLVER_H_
#include "tensorflow/lite/micro/micro_interpreter.h"

namespace tflite {
template <unsigned int tOpCount>
class MicroMutableOpResolver : public MicroOpResolver {
 public:
  static_assert(tOpCount > 0, "at least one op");
#include "resolver_methods.inc"
};
}  // namespace tflite
#endif
