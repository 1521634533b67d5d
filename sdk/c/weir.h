/*
 * weir.h: the C SDK for weir message filters (ABI v1, see sdk/ABI.md).
 *
 * One header, no libc. Include it in exactly one source file of your
 * filter; in any other file of the same filter, define
 * WEIR_DECLARATIONS_ONLY before including it.
 *
 * Build (Debian packages: clang lld):
 *
 *   clang --target=wasm32 -O2 -nostdlib -mbulk-memory \
 *         -Wl,--no-entry -Wl,-z,stack-size=65536 \
 *         -I path/to/sdk/c -o filter.wasm filter.c
 *
 * The header provides the required exports weir_abi_v1 and weir_buffer; a
 * filter adds weir_on_message (required) and any optional hook, marked with
 * WEIR_EXPORT(name).
 */
#ifndef WEIR_H
#define WEIR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEIR_IMPORT(name) __attribute__((import_module("weir_v1"), import_name(#name)))
#define WEIR_EXPORT(name) __attribute__((export_name(#name)))

/* Actions of weir_on_message (high 32 bits of its result). */
#define WEIR_CONTINUE 0u
#define WEIR_DROP 1u
#define WEIR_CLOSE 2u

/* Results of weir_on_handshake. */
#define WEIR_HANDSHAKE_CONTINUE 0
#define WEIR_HANDSHAKE_REJECT 1

/* Results of weir_on_drain. */
#define WEIR_DRAIN_KEEP 0
#define WEIR_DRAIN_CLOSE_NOW 1

/* Status codes (proxy-wasm numbering). Imports that return a length return
 * the status negated. */
#define WEIR_OK 0
#define WEIR_NOT_FOUND 1
#define WEIR_BAD_ARGUMENT 2
#define WEIR_INVALID_MEMORY_ACCESS 6
#define WEIR_CAS_MISMATCH 8
#define WEIR_INTERNAL_FAILURE 10
#define WEIR_UNIMPLEMENTED 12

/* kv_incr's error value. */
#define WEIR_KV_INCR_ERROR INT64_MIN

/* Directions (meta bit 0) and opcodes (meta bits 1-4). */
#define WEIR_CLIENT_TO_BACKEND 0u
#define WEIR_BACKEND_TO_CLIENT 1u
#define WEIR_OP_CONTINUATION 0u
#define WEIR_OP_TEXT 1u
#define WEIR_OP_BINARY 2u

/* Feature bits of enable_features. */
#define WEIR_FEATURE_FRAMES 1

/* Log levels. */
#define WEIR_LOG_DEBUG (-1)
#define WEIR_LOG_INFO 0
#define WEIR_LOG_WARN 1
#define WEIR_LOG_ERROR 2

/* Metric kinds. */
#define WEIR_COUNTER 0
#define WEIR_GAUGE 1
#define WEIR_HISTOGRAM 2

/* ---- imports (module weir_v1) ---------------------------------------- */

WEIR_IMPORT(enable_features) int32_t weir_enable_features(int32_t flags);
WEIR_IMPORT(get_config) int32_t weir_get_config(void *buf, uint32_t limit);
WEIR_IMPORT(get_property)
int32_t weir_get_property(uint32_t sid, const void *key, uint32_t key_len, void *buf, uint32_t limit);
WEIR_IMPORT(send_message)
int32_t weir_send_message(uint32_t sid, int64_t meta, const void *payload, uint32_t len);
WEIR_IMPORT(close_session)
int32_t weir_close_session(uint32_t sid, uint32_t code, const void *reason, uint32_t reason_len);
WEIR_IMPORT(reject) int32_t weir_reject(uint32_t status, const void *reason, uint32_t reason_len);
WEIR_IMPORT(log) void weir_log(int32_t level, const void *msg, uint32_t len);
WEIR_IMPORT(log_enabled) int32_t weir_log_enabled(int32_t level);
WEIR_IMPORT(metric_define) int32_t weir_metric_define(int32_t kind, const void *name, uint32_t name_len);
WEIR_IMPORT(metric_add) void weir_metric_add(int32_t id, int64_t value);
WEIR_IMPORT(kv_get) int64_t weir_kv_get(const void *key, uint32_t key_len, void *buf, uint32_t limit);
WEIR_IMPORT(kv_set)
int32_t weir_kv_set(const void *key, uint32_t key_len, const void *val, uint32_t val_len, uint32_t cas);
WEIR_IMPORT(kv_incr) int64_t weir_kv_incr(const void *key, uint32_t key_len, int64_t delta);
WEIR_IMPORT(now_ns) int64_t weir_now_ns(void);
WEIR_IMPORT(set_tick) void weir_set_tick(uint32_t ms);

/* ---- packed values --------------------------------------------------- */

static inline uint32_t weir_meta_dir(int64_t meta) { return (uint32_t)meta & 1u; }
static inline uint32_t weir_meta_opcode(int64_t meta) { return ((uint32_t)meta >> 1) & 0xFu; }
static inline int weir_meta_fin(int64_t meta) { return ((uint32_t)meta >> 5) & 1u; }
static inline int weir_meta_first(int64_t meta) { return ((uint32_t)meta >> 6) & 1u; }
static inline uint32_t weir_meta_seq(int64_t meta) { return (uint32_t)((uint64_t)meta >> 32); }

/* weir_meta builds the meta of a whole message to send with send_message. */
static inline int64_t weir_meta(uint32_t dir, uint32_t opcode) {
  return (int64_t)((dir & 1u) | ((opcode & 0xFu) << 1) | (1u << 5) | (1u << 6));
}

/* weir_result packs the result of weir_on_message. */
static inline int64_t weir_result(uint32_t action, uint32_t len) {
  return (int64_t)(((uint64_t)action << 32) | (uint64_t)len);
}

/* kv_get results. */
static inline uint32_t weir_kv_cas(int64_t r) { return (uint32_t)((uint64_t)r >> 32); }
static inline uint32_t weir_kv_len(int64_t r) { return (uint32_t)r; }

/* ---- small string helpers (no libc) ---------------------------------- */

/* A loop rather than __builtin_strlen, which becomes a call to a libc
 * strlen this SDK does not link; no_builtin keeps the optimiser from
 * turning the loop back into that call. */
__attribute__((no_builtin("strlen"))) static inline uint32_t weir_strlen(const char *s) {
  uint32_t n = 0;
  while (s[n] != 0) {
    n++;
  }
  return n;
}

static inline void weir_log_str(int32_t level, const char *msg) { weir_log(level, msg, weir_strlen(msg)); }

static inline int32_t weir_get_property_str(uint32_t sid, const char *key, void *buf, uint32_t limit) {
  return weir_get_property(sid, key, weir_strlen(key), buf, limit);
}

/* ---- the buffer ------------------------------------------------------ */

/*
 * The buffer the host copies payloads into lives at the start of the heap
 * (__heap_base) and grows with memory.grow when the host asks for more.
 * Rather than a fixed array: a module's declared memory is allocated in full
 * for every instance, so a 1 MiB array would cost 1 MiB per shard even for
 * small messages. The SDK owns all memory from __heap_base up; a filter
 * keeps its own state in static variables.
 */
extern unsigned char __heap_base;

/* weir_buf returns the buffer; its contents are valid during a hook. */
static inline uint8_t *weir_buf(void) { return (uint8_t *)&__heap_base; }

/* weir_buffer_cap is the capacity the host last asked for. */
extern uint32_t weir_buffer_cap;

#ifndef WEIR_DECLARATIONS_ONLY

uint32_t weir_buffer_cap;

WEIR_EXPORT(weir_abi_v1) void weir_abi_v1(void) {}

WEIR_EXPORT(weir_buffer) uint8_t *weir_buffer(uint32_t min_cap) {
  uintptr_t base = (uintptr_t)&__heap_base;
  uint64_t end = (uint64_t)base + (uint64_t)min_cap;
  uint64_t have = (uint64_t)__builtin_wasm_memory_size(0) * 65536u;
  if (end > have) {
    uint64_t pages = (end - have + 65535u) / 65536u;
    if (__builtin_wasm_memory_grow(0, (size_t)pages) == (size_t)-1) {
      return 0;
    }
  }
  if (min_cap > weir_buffer_cap) {
    weir_buffer_cap = min_cap;
  }
  return (uint8_t *)base;
}

#endif /* WEIR_DECLARATIONS_ONLY */

#ifdef __cplusplus
}
#endif

#endif /* WEIR_H */
