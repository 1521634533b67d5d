/* forbidden_import: imports a function from a module other than weir_v1. */
#include "weir.h"

__attribute__((import_module("env"), import_name("open_socket"))) int32_t open_socket(int32_t port);

WEIR_EXPORT(weir_on_message)
int64_t on_message(uint32_t sid, int64_t meta, uint32_t len) {
  (void)meta;
  return weir_result(WEIR_CONTINUE, len + (uint32_t)open_socket((int32_t)sid));
}
