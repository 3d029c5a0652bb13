// The model API verify's runner (firmware_templates/qemu/verify_main.cc) drives, over a microTVM AOT model
// (tvmgen_default_run) instead of a tinyml-kit export: bench/references/microtvm_m33.py builds the runner
// unchanged against it, so the window timed is the same call, Run(), that verify times.
// MICROTVM_WORKSPACE_BYTES, MICROTVM_INPUT_BYTES and MICROTVM_OUTPUT_BYTES come from the build.
#ifndef TINYML_MODEL_H_
#define TINYML_MODEL_H_

#include <stddef.h>
#include <stdint.h>

namespace tinyml {

enum Status : int { kOk = 0, kInvokeFailed = 6 };

Status Init();
Status Run();  // tvmgen_default_run() on Input(), into Output()
int8_t* Input();
size_t InputBytes();
const int8_t* Output();
size_t OutputSize();
size_t ArenaUsedBytes();
constexpr size_t ArenaBytes() { return MICROTVM_WORKSPACE_BYTES; }
const char* StatusMessage(Status status);

}  // namespace tinyml

#endif  // TINYML_MODEL_H_
