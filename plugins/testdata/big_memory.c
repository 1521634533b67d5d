/* big_memory: declares 32 MiB of static data, over the default 16 MiB cap. */
#include "weir.h"

static uint8_t big[32 << 20];

WEIR_EXPORT(weir_on_message)
int64_t on_message(uint32_t sid, int64_t meta, uint32_t len) {
  (void)meta;
  big[sid] = 1;
  return weir_result(WEIR_CONTINUE, len + big[len]);
}
