// The module's exports (ABI.md §2). A filter's entry file re-exports them:
//   export * from "<sdk>/assembly/exports";
import { resultContinue, DRAIN_KEEP, HANDSHAKE_CONTINUE } from "./abi";
import { filter, growBuffer } from "./filter";

export function weir_abi_v1(): void {}

export function weir_buffer(minCap: u32): usize {
  return growBuffer(minCap);
}

export function weir_init(configLen: u32): i32 {
  const f = filter();
  return f ? f.init(configLen) : 0;
}

export function weir_on_message(sid: u32, meta: i64, len: u32): i64 {
  const f = filter();
  return f ? f.onMessage(sid, meta, len) : resultContinue(len);
}

export function weir_on_handshake(sid: u32, propsLen: u32): i32 {
  const f = filter();
  return f ? f.onHandshake(sid, propsLen) : HANDSHAKE_CONTINUE;
}

export function weir_on_open(sid: u32): i32 {
  const f = filter();
  return f ? f.onOpen(sid) : 0;
}

export function weir_on_close(sid: u32, code: u32, byPeer: u32): void {
  const f = filter();
  if (f) f.onClose(sid, code, byPeer != 0);
}

export function weir_on_session_end(sid: u32): void {
  const f = filter();
  if (f) f.onSessionEnd(sid);
}

export function weir_on_tick(): void {
  const f = filter();
  if (f) f.onTick();
}

export function weir_on_drain(sid: u32, deadlineMs: u32): i32 {
  const f = filter();
  return f ? f.onDrain(sid, deadlineMs) : DRAIN_KEEP;
}
