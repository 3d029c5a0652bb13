/* tinyml-kit verify: reset and fault handling for QEMU's mps2-an386 (Cortex-M4F), mps2-an500 (M7), mps2-an505
 * (M33) and mps3-an547 (M55), newlib with Arm semihosting (rdimon). Linked with -nostartfiles, so this does what
 * crt0 would: vector table and FPU (and, on the M55, MVE) on, .data copied, .bss zeroed, the semihosting stdio
 * opened, constructors run, then main() and exit() through semihosting. The M33 and M55 boot Secure with the SAU
 * off; the linker script places everything in Secure address ranges. */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __StackTop, __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern int main(void);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);

void _init(void) {}
void _fini(void) {}
void* __dso_handle = 0;

static void semihosting(int op, const void* arg) {
  register int r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
}

/* Any fault or unexpected interrupt ends the run with a line verify recognises and a failing exit status. */
static void Fault_Handler(void) {
  semihosting(0x04 /* SYS_WRITE0 */, "\nTINYML_FAULT\n");
  semihosting(0x18 /* SYS_EXIT */, (const void*)0x20023 /* ADP_Stopped_RunTimeErrorUnknown */);
  for (;;) {
  }
}

void Reset_Handler(void);
void SysTick_Handler(void) __attribute__((weak, alias("Fault_Handler")));

__attribute__((section(".vectors"), used)) const void* const g_vectors[16] = {
    &__StackTop,   Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, 0,             0,             0,             Fault_Handler,
    Fault_Handler, 0,             Fault_Handler, SysTick_Handler,
};

void Reset_Handler(void) {
  *(volatile uint32_t*)0xE000ED08 = (uint32_t)g_vectors; /* VTOR: the table may sit away from the reset alias */
  *(volatile uint32_t*)0xE000ED88 |= 0xFu << 20;          /* CPACR: CP10/CP11 full access (FPU; MVE on the M55) */
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  for (uint32_t *src = &__data_load__, *dst = &__data_start__; dst < &__data_end__;) *dst++ = *src++;
  for (uint32_t* dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
  initialise_monitor_handles();
  __libc_init_array();
  exit(main());
}
