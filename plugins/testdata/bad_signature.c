/* bad_signature: weir_on_message with 32-bit meta and result. */
#include "weir.h"

WEIR_EXPORT(weir_on_message)
int32_t on_message(uint32_t sid, int32_t meta, uint32_t len) {
  (void)sid;
  (void)meta;
  return (int32_t)len;
}
