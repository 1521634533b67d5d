// The weir_v1 imports (ABI.md §5), raw: pointers are linear-memory
// offsets. The string helpers at the end encode to UTF-8 first; hot paths
// use the raw forms.

// @ts-ignore: decorator
@external("weir_v1", "enable_features")
export declare function enableFeatures(flags: i32): i32;
// @ts-ignore: decorator
@external("weir_v1", "get_config")
export declare function getConfig(buf: usize, limit: u32): i32;
// @ts-ignore: decorator
@external("weir_v1", "get_property")
export declare function getProperty(sid: u32, key: usize, keyLen: u32, buf: usize, limit: u32): i32;
// @ts-ignore: decorator
@external("weir_v1", "send_message")
export declare function sendMessage(sid: u32, meta: i64, ptr: usize, len: u32): i32;
// @ts-ignore: decorator
@external("weir_v1", "close_session")
export declare function closeSession(sid: u32, code: u32, reason: usize, reasonLen: u32): i32;
// @ts-ignore: decorator
@external("weir_v1", "reject")
export declare function reject(status: u32, reason: usize, reasonLen: u32): i32;
// @ts-ignore: decorator
@external("weir_v1", "log")
export declare function log(level: i32, ptr: usize, len: u32): void;
// @ts-ignore: decorator
@external("weir_v1", "log_enabled")
export declare function logEnabled(level: i32): i32;
// @ts-ignore: decorator
@external("weir_v1", "metric_define")
export declare function metricDefine(kind: i32, name: usize, nameLen: u32): i32;
// @ts-ignore: decorator
@external("weir_v1", "metric_add")
export declare function metricAdd(id: i32, value: i64): void;
// @ts-ignore: decorator
@external("weir_v1", "kv_get")
export declare function kvGet(key: usize, keyLen: u32, buf: usize, limit: u32): i64;
// @ts-ignore: decorator
@external("weir_v1", "kv_set")
export declare function kvSet(key: usize, keyLen: u32, val: usize, valLen: u32, cas: u32): i32;
// @ts-ignore: decorator
@external("weir_v1", "kv_incr")
export declare function kvIncr(key: usize, keyLen: u32, delta: i64): i64;
// @ts-ignore: decorator
@external("weir_v1", "now_ns")
export declare function nowNs(): i64;
// @ts-ignore: decorator
@external("weir_v1", "set_tick")
export declare function setTick(ms: u32): void;

// ---- string helpers ----
//
// Each encodes the string to a fresh UTF-8 ArrayBuffer. Under the stub
// runtime nothing is ever freed, so call these from init or rare paths,
// never per message.

export function logStr(level: i32, msg: string): void {
  const b = String.UTF8.encode(msg);
  log(level, changetype<usize>(b), <u32>b.byteLength);
}

export function metricDefineStr(kind: i32, name: string): i32 {
  const b = String.UTF8.encode(name);
  return metricDefine(kind, changetype<usize>(b), <u32>b.byteLength);
}

export function closeSessionStr(sid: u32, code: u32, reason: string): i32 {
  const b = String.UTF8.encode(reason);
  return closeSession(sid, code, changetype<usize>(b), <u32>b.byteLength);
}

export function rejectStr(status: u32, reason: string): i32 {
  const b = String.UTF8.encode(reason);
  return reject(status, changetype<usize>(b), <u32>b.byteLength);
}
