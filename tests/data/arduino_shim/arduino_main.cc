// Test-only Arduino core entry: setup(), one loop(), exit. Time is the instruction counter QEMU advances.
#include "Arduino.h"

SerialShim Serial;
static unsigned long g_fake_us = 0;

unsigned long millis() { return (g_fake_us += 1000) / 1000; }
unsigned long micros() { return g_fake_us += 1; }
void delay(unsigned long) {}

void setup();
void loop();

int main() {
  setup();
  loop();
  return 0;
}
