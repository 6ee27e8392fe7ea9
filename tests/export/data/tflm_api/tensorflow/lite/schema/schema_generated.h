// Declarations only (see README.md).
#define TFLITE_SCHEMA_VERSION (3)
