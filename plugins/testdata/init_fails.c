/* init_fails: weir_init refuses with code 7. */
#include "weir.h"

WEIR_EXPORT(weir_init) int32_t init(uint32_t config_len) { return config_len == 0 ? 7 : 0; }

WEIR_EXPORT(weir_on_message)
int64_t on_message(uint32_t sid, int64_t meta, uint32_t len) {
  (void)sid;
  (void)meta;
  return weir_result(WEIR_CONTINUE, len);
}
