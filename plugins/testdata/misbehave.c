/*
 * misbehave: a filter that fails on request, for the sandbox tests (W-01,
 * W-02, W-03). The first byte of a message selects the failure; any other
 * message passes unchanged.
 *   'l' loop forever          'u' unreachable       'd' divide by zero
 *   'o' out-of-bounds load    's' stack overflow    'g' grow memory until it
 *   fails, answer the number of pages reached as decimal text
 * weir_init loops forever when the configuration is 4 bytes long.
 */
#include "weir.h"

static volatile int32_t zero = 0;
static volatile uint32_t sink;

static int32_t recurse(int32_t n);
static int32_t (*volatile recurse_ptr)(int32_t) = recurse;

/* Through a volatile pointer, so the compiler cannot turn the recursion
 * into a loop. */
static int32_t recurse(int32_t n) { return recurse_ptr(n + 1) + 1; }

static uint32_t put_uint(uint8_t *p, uint32_t v) {
  uint8_t tmp[10];
  uint32_t n = 0;
  do {
    tmp[n++] = (uint8_t)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (uint32_t i = 0; i < n; i++) {
    p[i] = tmp[n - 1 - i];
  }
  return n;
}

WEIR_EXPORT(weir_init)
int32_t init(uint32_t config_len) {
  if (config_len == 4) {
    for (;;) {
      sink++;
    }
  }
  return 0;
}

WEIR_EXPORT(weir_on_message)
int64_t on_message(uint32_t sid, int64_t meta, uint32_t len) {
  (void)sid;
  (void)meta;
  uint8_t *p = weir_buf();
  if (len == 0) {
    return weir_result(WEIR_CONTINUE, 0);
  }
  switch (p[0]) {
  case 'l':
    for (;;) {
      sink++;
    }
  case 'u':
    __builtin_trap();
  case 'd':
    return weir_result(WEIR_CONTINUE, (uint32_t)(len / zero));
  case 'o':
    return weir_result(WEIR_CONTINUE, *(volatile uint32_t *)(uintptr_t)0xFFFFFFF0u);
  case 's':
    return weir_result(WEIR_CONTINUE, (uint32_t)recurse(0));
  case 'g': {
    while (__builtin_wasm_memory_grow(0, 16) != (size_t)-1) {
    }
    uint32_t pages = (uint32_t)__builtin_wasm_memory_size(0);
    return weir_result(WEIR_CONTINUE, put_uint(p, pages));
  }
  }
  return weir_result(WEIR_CONTINUE, len);
}
