// Declarations only (see README.md): the parts of TFLite Micro's API example_main.cc uses.
#ifndef EDGEGRU_STUB_MICRO_INTERPRETER_H_
#define EDGEGRU_STUB_MICRO_INTERPRETER_H_
#include <cstddef>
#include <cstdint>

typedef enum TfLiteStatus { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef union TfLitePtrUnion {
  int32_t* i32;
  int64_t* i64;
  float* f;
  int8_t* int8;
  int16_t* i16;
  void* raw;
} TfLitePtrUnion;
typedef struct TfLiteTensor {
  TfLitePtrUnion data;
  size_t bytes;
} TfLiteTensor;

namespace tflite {
struct Model {
  uint32_t version() const;
};
const Model* GetModel(const void* buf);
class MicroOpResolver {};
class MicroResourceVariables;
class MicroProfilerInterface;
class MicroInterpreter {
 public:
  MicroInterpreter(const Model* model, const MicroOpResolver& op_resolver,
                   uint8_t* tensor_arena, size_t tensor_arena_size,
                   MicroResourceVariables* resource_variables = nullptr,
                   MicroProfilerInterface* profiler = nullptr,
                   bool preserve_all_tensors = false);
  TfLiteStatus AllocateTensors();
  TfLiteStatus Invoke();
  TfLiteTensor* input(size_t index);
  TfLiteTensor* output(size_t index);
};
}  // namespace tflite
#endif
