// Test-only stand-in for the Arduino core: just enough (Serial, millis, micros, delay) to compile an exported
// sketch for the emulated Cortex-M4F and run setup() and one loop() under QEMU, printing through semihosting.
#ifndef ARDUINO_SHIM_H_
#define ARDUINO_SHIM_H_

#include <stdint.h>
#include <stdio.h>

unsigned long millis();
unsigned long micros();
void delay(unsigned long ms);

class SerialShim {
 public:
  void begin(unsigned long) {}
  explicit operator bool() const { return true; }
  void print(const char* text) { fputs(text, stdout); }
  void print(unsigned long value) { printf("%lu", value); }
  void print(float value, int digits) {
    if (value < 0) {
      fputc('-', stdout);
      value = -value;
    }
    unsigned long whole = static_cast<unsigned long>(value);
    printf("%lu.", whole);
    float rest = value - static_cast<float>(whole);
    for (int i = 0; i < digits; ++i) {
      rest *= 10.0f;
      const int digit = static_cast<int>(rest);
      fputc('0' + digit, stdout);
      rest -= static_cast<float>(digit);
    }
  }
  void println(const char* text = "") {
    print(text);
    fputc('\n', stdout);
  }
};

extern SerialShim Serial;

#endif  // ARDUINO_SHIM_H_
