// tinyml-kit verify: runs the generated model API on QEMU mps2-an386 over a file of int8 images, one Init()
// and one Run() per image, and prints each output with its instruction count. The file's host path arrives on
// the semihosting command line, so one firmware serves any number of images.
//
//   TINYML_ERROR <status> <message>            Init() failed
//   TINYML_ARENA <used bytes> <reserved bytes>
//   TINYML_OUTPUT <i> <instructions> <v0> <v1> ...
//   TINYML_STACK <bytes>                       high-water mark over Init() and every Run()
//   TINYML_DONE <images>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tinyml_model.h"
#ifndef TINYML_ENGINE_C  // the TFLM engine logs through a callback; the C engine has nothing to log
#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#endif

extern "C" uint32_t __StackLimit, __StackTop;

namespace {

// QEMU runs with -icount shift=0: every instruction advances virtual time by 1 ns, and SysTick counts the
// 25 MHz processor clock, so one tick is 40 instructions.
constexpr uint32_t kInstructionsPerTick = 40;
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

}  // namespace

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
    const uint64_t start = Ticks();
    const tinyml::Status run = tinyml::Run();
    const uint64_t ticks = Ticks() - start;
    const uint32_t used = StackUsed();
    stack = used > stack ? used : stack;
    if (run != tinyml::kOk) {
      printf("\nTINYML_ERROR %d %s\n", static_cast<int>(run), tinyml::StatusMessage(run));
      return 1;
    }
    printf("TINYML_OUTPUT %d %lu", count, static_cast<unsigned long>(ticks * kInstructionsPerTick));
    for (size_t i = 0; i < tinyml::OutputSize(); ++i) printf(" %d", tinyml::Output()[i]);
    printf("\n");
    ++count;
  }
  fclose(images);
  printf("TINYML_STACK %lu\n", static_cast<unsigned long>(stack));
  printf("TINYML_DONE %d\n", count);
  return 0;
}
