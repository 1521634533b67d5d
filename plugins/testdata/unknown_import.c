/* unknown_import: imports a weir_v1 function the host does not provide. */
#include "weir.h"

WEIR_IMPORT(open_file) int32_t open_file(int32_t fd);

WEIR_EXPORT(weir_on_message)
int64_t on_message(uint32_t sid, int64_t meta, uint32_t len) {
  (void)meta;
  return weir_result(WEIR_CONTINUE, len + (uint32_t)open_file((int32_t)sid));
}
