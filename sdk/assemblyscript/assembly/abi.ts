// Constants and packed values of weir ABI v1 (sdk/ABI.md).

// Actions of weir_on_message (high 32 bits of its result).
export const CONTINUE: u32 = 0;
export const DROP: u32 = 1;
export const CLOSE: u32 = 2;

// Results of onHandshake and onDrain.
export const HANDSHAKE_CONTINUE: i32 = 0;
export const HANDSHAKE_REJECT: i32 = 1;
export const DRAIN_KEEP: i32 = 0;
export const DRAIN_CLOSE_NOW: i32 = 1;

// Status codes (proxy-wasm numbering); imports returning a length return
// the status negated.
export const OK: i32 = 0;
export const NOT_FOUND: i32 = 1;
export const BAD_ARGUMENT: i32 = 2;
export const INVALID_MEMORY_ACCESS: i32 = 6;
export const CAS_MISMATCH: i32 = 8;
export const INTERNAL_FAILURE: i32 = 10;
export const UNIMPLEMENTED: i32 = 12;

// kv_incr's error value.
export const KV_INCR_ERROR: i64 = i64.MIN_VALUE;

// Directions (meta bit 0) and opcodes (meta bits 1-4).
export const CLIENT_TO_BACKEND: u32 = 0;
export const BACKEND_TO_CLIENT: u32 = 1;
export const OP_CONTINUATION: u32 = 0;
export const OP_TEXT: u32 = 1;
export const OP_BINARY: u32 = 2;

// Feature bits of enableFeatures.
export const FEATURE_FRAMES: i32 = 1;

// Log levels.
export const LOG_DEBUG: i32 = -1;
export const LOG_INFO: i32 = 0;
export const LOG_WARN: i32 = 1;
export const LOG_ERROR: i32 = 2;

// Metric kinds.
export const COUNTER: i32 = 0;
export const GAUGE: i32 = 1;
export const HISTOGRAM: i32 = 2;

// ---- meta (ABI.md §3.1) ----

export function metaDir(meta: i64): u32 {
  return <u32>meta & 1;
}
export function metaOpcode(meta: i64): u32 {
  return (<u32>meta >> 1) & 0xf;
}
export function metaFin(meta: i64): bool {
  return ((<u32>meta >> 5) & 1) == 1;
}
export function metaFirst(meta: i64): bool {
  return ((<u32>meta >> 6) & 1) == 1;
}
export function metaSeq(meta: i64): u32 {
  return <u32>(<u64>meta >> 32);
}

// makeMeta builds the meta of a whole message, for sendMessage.
export function makeMeta(dir: u32, opcode: u32): i64 {
  return <i64>((dir & 1) | ((opcode & 0xf) << 1) | (1 << 5) | (1 << 6));
}

// ---- results of weir_on_message (ABI.md §3.2) ----

export function result(action: u32, len: u32): i64 {
  return <i64>((<u64>action << 32) | <u64>len);
}
export function resultContinue(len: u32): i64 {
  return result(CONTINUE, len);
}
export function resultDrop(): i64 {
  return result(DROP, 0);
}
export function resultClose(): i64 {
  return result(CLOSE, 0);
}

// ---- kv_get results ----

export function kvCas(r: i64): u32 {
  return <u32>(<u64>r >> 32);
}
export function kvLen(r: i64): u32 {
  return <u32>r;
}
