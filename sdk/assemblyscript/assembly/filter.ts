import { DRAIN_KEEP, HANDSHAKE_CONTINUE, resultContinue } from "./abi";

// Filter is the base of every filter: override the hooks you need. The
// defaults forward every message and accept every session.
export class Filter {
  // init runs once per instance (weir_init); non-zero fails the instance.
  init(configLen: u32): i32 {
    return 0;
  }
  // onMessage sees one message: `len` bytes at bufferPtr(). Edit in place
  // (up to bufferCap() bytes) and return a result (resultContinue(n), ...).
  onMessage(sid: u32, meta: i64, len: u32): i64 {
    return resultContinue(len);
  }
  // onHandshake sees the session properties, `propsLen` bytes at
  // bufferPtr() (records of u32le key_len | key | u32le value_len | value).
  onHandshake(sid: u32, propsLen: u32): i32 {
    return HANDSHAKE_CONTINUE;
  }
  onOpen(sid: u32): i32 {
    return 0;
  }
  onClose(sid: u32, code: u32, byPeer: bool): void {}
  onSessionEnd(sid: u32): void {}
  onTick(): void {}
  onDrain(sid: u32, deadlineMs: u32): i32 {
    return DRAIN_KEEP;
  }
}

// The instance's filter and buffer: module globals, one per instance.
let current: Filter | null = null;
let bufPtr: usize = 0;
let bufCap: u32 = 0;

// register installs the filter; call it at the top level of the entry file
// (it runs in the module's start function, before any hook).
export function register(f: Filter): void {
  current = f;
}

// bufferPtr is the buffer's address; its contents are valid during a hook.
export function bufferPtr(): usize {
  return bufPtr;
}

// bufferCap is the capacity the host last asked for.
export function bufferCap(): u32 {
  return bufCap;
}

// growBuffer backs weir_buffer. heap.realloc keeps the contents and, under
// the stub runtime, extends the last block in place; memory only grows.
export function growBuffer(minCap: u32): usize {
  if (minCap > bufCap) {
    bufPtr = bufPtr == 0 ? heap.alloc(<usize>minCap) : heap.realloc(bufPtr, <usize>minCap);
    bufCap = minCap;
  }
  return bufPtr;
}

export function filter(): Filter | null {
  return current;
}
