/* passthrough: the smallest weir filter. Every message is forwarded as is. */
#include "weir.h"

WEIR_EXPORT(weir_on_message)
int64_t on_message(uint32_t sid, int64_t meta, uint32_t len) {
  (void)sid;
  (void)meta;
  return weir_result(WEIR_CONTINUE, len);
}
