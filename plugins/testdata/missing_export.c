/* missing_export: has no weir_on_message. */
#include "weir.h"
