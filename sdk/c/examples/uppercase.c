/*
 * uppercase: rewrites text messages to upper case (ASCII letters only, so
 * UTF-8 stays valid) in place; binary messages pass unchanged. It counts the
 * messages it rewrote in the metric "uppercase_messages".
 */
#include "weir.h"

static int32_t rewritten = -1;

WEIR_EXPORT(weir_init)
int32_t init(uint32_t config_len) {
  (void)config_len;
  rewritten = weir_metric_define(WEIR_COUNTER, "uppercase_messages", 18);
  return rewritten < 0 ? 1 : 0;
}

WEIR_EXPORT(weir_on_message)
int64_t on_message(uint32_t sid, int64_t meta, uint32_t len) {
  (void)sid;
  uint32_t op = weir_meta_opcode(meta);
  if (op == WEIR_OP_TEXT || op == WEIR_OP_CONTINUATION) {
    uint8_t *p = weir_buf();
    for (uint32_t i = 0; i < len; i++) {
      uint8_t c = p[i];
      if (c >= 'a' && c <= 'z') {
        p[i] = c - ('a' - 'A');
      }
    }
    weir_metric_add(rewritten, 1);
  }
  return weir_result(WEIR_CONTINUE, len);
}
