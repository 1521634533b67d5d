// passthrough: the smallest weir filter. The SDK's default Filter forwards
// every message as is.
import { Filter, register } from "../../assembly/index";
export * from "../../assembly/exports";

register(new Filter());
