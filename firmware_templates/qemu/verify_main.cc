// tinyml-kit verify: runs the generated model API on QEMU mps2-an386 over a file of int8 images, one Init()
// and one Run() per image, and prints each output with its instruction count. The file's host path arrives on
// the semihosting command line, so one firmware serves any number of images.
//
//   TINYML_ERROR <status> <message>            Init() failed
//   TINYML_ARENA <used bytes> <reserved bytes>
//   TINYML_OUTPUT <i> <instructions> <v0> <v1> ...
//   TINYML_OP <i> <op index> <op> <instructions>  with -DTINYML_PROFILE: each op of image i, in execution
//                                                order, by its index in the model's graph
//   TINYML_STACK <bytes>                       high-water mark over Init() and every Run()
//   TINYML_DONE <images>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tinyml_model.h"
#ifndef TINYML_ENGINE_C  // the TFLM engine logs through a callback; the C engine has nothing to log
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#ifdef TINYML_PROFILE
#include "tensorflow/lite/micro/micro_profiler_interface.h"
#endif
#endif

extern "C" uint32_t __StackLimit, __StackTop;

namespace {

// QEMU runs with -icount shift=0: every instruction advances virtual time by 1 ns, and SysTick counts the
// machine's processor clock (25 MHz on mps2-an386), so a tick is 1000 / MHz instructions; verify passes the clock.
#ifndef TINYML_SYSTICK_MHZ
#error "define TINYML_SYSTICK_MHZ: the processor clock of this QEMU machine, which SysTick counts"
#endif
uint64_t Instructions(uint64_t ticks) { return ticks * 1000u / TINYML_SYSTICK_MHZ; }
constexpr uint32_t kReload = 0x00FFFFFF;
volatile uint32_t* const kSysTick = reinterpret_cast<volatile uint32_t*>(0xE000E010);
volatile uint32_t* const kIcsr = reinterpret_cast<volatile uint32_t*>(0xE000ED04);
volatile uint32_t g_wraps = 0;

void StartTicks() {
  kSysTick[0] = 0;
  kSysTick[1] = kReload;
  kSysTick[2] = 0;
  kSysTick[0] = 0x7;  // processor clock, interrupt on wrap, enabled
  while (kSysTick[2] == 0) {
  }
}

uint64_t Ticks() {
  uint32_t wraps, value;
  do {
    wraps = g_wraps;
    value = kSysTick[2];
    if ((*kIcsr & (1u << 26)) != 0 && value > kReload / 2) ++wraps;  // wrapped, interrupt still pending
  } while (wraps != g_wraps && wraps != g_wraps + 1);
  return static_cast<uint64_t>(wraps) * (kReload + 1ull) + (kReload - value);
}

constexpr uint32_t kPaint = 0xC0FFEE11u;

void PaintStack() {
  uint32_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (uint32_t* p = &__StackLimit; reinterpret_cast<uint32_t>(p) < sp - 64; ++p) *p = kPaint;
}

uint32_t StackUsed() {
  const uint32_t* p = &__StackLimit;
  while (p < &__StackTop && *p == kPaint) ++p;
  return reinterpret_cast<uint32_t>(&__StackTop) - reinterpret_cast<uint32_t>(p);
}

const char* ImagesPath() {
  static char line[512];
  struct {
    char* buffer;
    int length;
  } block = {line, sizeof(line) - 1};
  register int r0 __asm__("r0") = 0x15;  // SYS_GET_CMDLINE
  register void* r1 __asm__("r1") = &block;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  if (r0 != 0 || block.length <= 0) return nullptr;
  line[block.length] = 0;
  char* arg = strchr(line, ' ');  // after argv[0]
  return arg != nullptr ? arg + 1 : nullptr;
}

#ifndef TINYML_ENGINE_C
void Log(const char* text) { fputs(text, stdout); }
#endif

#ifdef TINYML_PROFILE
// Each op's start and length in ticks, for one inference; ops never nest in either engine.
struct OpEvent {
  int index;  // the op's index in the model's graph
  const char* op;
  uint64_t start;
  uint64_t ticks;
};
#ifndef TINYML_PROFILE_OPS  // verify passes the model's op count, so the record costs 24 B per op of RAM
#define TINYML_PROFILE_OPS 1024
#endif
constexpr uint32_t kMaxOps = TINYML_PROFILE_OPS;
OpEvent g_ops[kMaxOps];
uint32_t g_op_count = 0;
bool g_ops_overflow = false;

uint32_t BeginOp(int index, const char* op) {
  if (g_op_count == kMaxOps) {
    g_ops_overflow = true;
    return kMaxOps;
  }
  g_ops[g_op_count] = {index, op, Ticks(), 0};
  return g_op_count++;
}

void EndOp(uint32_t handle) {
  if (handle < g_op_count) g_ops[handle].ticks = Ticks() - g_ops[handle].start;
}

void PrintOps(int image) {
  for (uint32_t i = 0; i < g_op_count; ++i) {
    printf("TINYML_OP %d %d %s %lu\n", image, g_ops[i].index, g_ops[i].op,
           static_cast<unsigned long>(Instructions(g_ops[i].ticks)));
  }
}
#else
void PrintOps(int) {}
#endif

}  // namespace

#ifdef TINYML_PROFILE
#ifdef TINYML_ENGINE_C
extern "C" void tinyml_profile_begin(int op_index, const char* op) { BeginOp(op_index, op); }
extern "C" void tinyml_profile_end(void) { EndOp(g_op_count - 1); }
#else
namespace {
class TickProfiler : public tflite::MicroProfilerInterface {
 public:
  // TFLM runs the graph's ops in order, so the n-th event of an inference is op n.
  uint32_t BeginEvent(const char* tag) override { return BeginOp(static_cast<int>(g_op_count), tag); }
  void EndEvent(uint32_t handle) override { EndOp(handle); }
};
TickProfiler g_profiler;
}  // namespace

namespace tinyml {
tflite::MicroProfilerInterface* Profiler() { return &g_profiler; }
}  // namespace tinyml
#endif
#endif

extern "C" void SysTick_Handler(void) { g_wraps = g_wraps + 1; }

int main() {
#ifndef TINYML_ENGINE_C
  RegisterDebugLogCallback(Log);
#endif
  PaintStack();
  const tinyml::Status status = tinyml::Init();
  uint32_t stack = StackUsed();
  if (status != tinyml::kOk) {
    printf("\nTINYML_ERROR %d %s\n", static_cast<int>(status), tinyml::StatusMessage(status));
    return 1;
  }
  printf("TINYML_ARENA %u %u\n", static_cast<unsigned>(tinyml::ArenaUsedBytes()),
         static_cast<unsigned>(tinyml::ArenaBytes()));
  const char* path = ImagesPath();
  FILE* images = path != nullptr ? fopen(path, "rb") : nullptr;
  if (images == nullptr) {
    printf("TINYML_ERROR 0 cannot open the images file\n");
    return 1;
  }
  StartTicks();
  int count = 0;
  while (fread(tinyml::Input(), 1, tinyml::InputBytes(), images) == tinyml::InputBytes()) {
    PaintStack();
#ifdef TINYML_PROFILE
    g_op_count = 0;
#endif
    const uint64_t start = Ticks();
    const tinyml::Status run = tinyml::Run();
    const uint64_t ticks = Ticks() - start;
    const uint32_t used = StackUsed();
    stack = used > stack ? used : stack;
    if (run != tinyml::kOk) {
      printf("\nTINYML_ERROR %d %s\n", static_cast<int>(run), tinyml::StatusMessage(run));
      return 1;
    }
    printf("TINYML_OUTPUT %d %lu", count, static_cast<unsigned long>(Instructions(ticks)));
    for (size_t i = 0; i < tinyml::OutputSize(); ++i) printf(" %d", tinyml::Output()[i]);
    printf("\n");
    PrintOps(count);
    ++count;
  }
  fclose(images);
#ifdef TINYML_PROFILE
  if (g_ops_overflow) {
    printf("TINYML_ERROR 0 more than %lu ops: the profile holds the first %lu\n",
           static_cast<unsigned long>(kMaxOps), static_cast<unsigned long>(kMaxOps));
    return 1;
  }
#endif
  printf("TINYML_STACK %lu\n", static_cast<unsigned long>(stack));
  printf("TINYML_DONE %d\n", count);
  return 0;
}
