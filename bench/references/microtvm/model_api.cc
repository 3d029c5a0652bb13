// tinyml_model.h over a microTVM AOT model, with the workspace handling of the MLPerf Tiny submission it comes
// from: TVMBackendAllocWorkspace / TVMBackendFreeWorkspace on TVM's CRT stack allocator over one static pool of
// WORKSPACE_SIZE bytes, so Run() does the same allocator work per inference as that firmware's th_infer().
#include "tinyml_model.h"

extern "C" {
#include <tvm/runtime/crt/stack_allocator.h>

#include "tvmgen_default.h"
}

namespace {

alignas(16) uint8_t g_workspace[MICROTVM_WORKSPACE_BYTES];
tvm_workspace_t g_pool;
alignas(16) int8_t g_input[MICROTVM_INPUT_BYTES];
alignas(16) int8_t g_output[MICROTVM_OUTPUT_BYTES];

}  // namespace

extern "C" void* TVMBackendAllocWorkspace(int, int, uint64_t bytes, int, int) {
  void* pointer = nullptr;
  return StackMemoryManager_Allocate(&g_pool, static_cast<int32_t>(bytes), &pointer) == kTvmErrorNoError
             ? pointer
             : nullptr;
}

extern "C" int TVMBackendFreeWorkspace(int, int, void* pointer) {
  return StackMemoryManager_Free(&g_pool, pointer) == kTvmErrorNoError ? 0 : -1;
}

namespace tinyml {

Status Init() {
  return StackMemoryManager_Init(&g_pool, g_workspace, sizeof(g_workspace)) == kTvmErrorNoError ? kOk
                                                                                                 : kInvokeFailed;
}

Status Run() {
  // Each struct has one member, the model's input or output tensor (its name differs between models).
  tvmgen_default_inputs inputs = {g_input};
  tvmgen_default_outputs outputs = {g_output};
  return tvmgen_default_run(&inputs, &outputs) == 0 ? kOk : kInvokeFailed;
}

int8_t* Input() { return g_input; }
size_t InputBytes() { return sizeof(g_input); }
const int8_t* Output() { return g_output; }
size_t OutputSize() { return sizeof(g_output); }
size_t ArenaUsedBytes() { return sizeof(g_workspace); }  // the pool reserved: the allocator keeps no high-water mark

const char* StatusMessage(Status status) {
  return status == kOk ? "ok" : "tvmgen_default_run() failed (a kernel refused its arguments, or the pool is full)";
}

}  // namespace tinyml
