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

// growBuffer backs weir_buffer. It returns 0 when memory cannot grow (the
// hook that needed the buffer fails, the instance lives on) and leaves the
// old buffer in place, which the host keeps using for smaller messages.
// The old contents need not survive (ABI.md §4): freeing the buffer gives
// it back when it is the last block, so the new one starts at the same
// place, as a realloc would, without copying.
export function growBuffer(minCap: u32): usize {
  if (minCap > bufCap) {
    if (!makeRoom(minCap)) return 0;
    if (bufPtr != 0) heap.free(bufPtr);
    bufPtr = heap.alloc(<usize>minCap);
    bufCap = minCap;
  }
  return bufPtr;
}

// makeRoom grows memory so that a block of n bytes fits at the top of the
// heap. The stub allocator traps when memory.grow fails, which would
// discard the instance and close all its sessions; growing first turns
// that into a refusal. A zero-size block shows where the top is; freeing
// the last block gives it back.
function makeRoom(n: u32): bool {
  const top = heap.alloc(0);
  heap.free(top);
  const end: u64 = <u64>top + <u64>n + 64; // 64: the block header, rounded up
  const have: u64 = <u64>memory.size() << 16;
  if (end <= have) return true;
  return memory.grow(<i32>((end - have + 0xffff) >> 16)) >= 0;
}

export function filter(): Filter | null {
  return current;
}
