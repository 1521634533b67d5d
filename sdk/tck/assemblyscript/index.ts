// tck: the AssemblyScript guest of the weir conformance kit. It implements
// the behaviour of sdk/tck/README.md ("The guest") through the SDK in
// sdk/assemblyscript; the C, Go and Rust guests beside it implement the
// same behaviour, and sdk/tck runs one case list against all four.
import {
  BACKEND_TO_CLIENT, CLIENT_TO_BACKEND, COUNTER, DRAIN_CLOSE_NOW, DRAIN_KEEP, FEATURE_FRAMES, Filter, GAUGE,
  HANDSHAKE_CONTINUE, HANDSHAKE_REJECT, HISTOGRAM, KV_INCR_ERROR, LOG_INFO, OP_BINARY, OP_TEXT, bufferCap, bufferPtr,
  closeSession, closeSessionStr, enableFeatures, getConfig, getProperty, kvCas, kvGet, kvIncr, kvLen, kvSet, log,
  logEnabled, logStr, makeMeta, metaDir, metaFin, metaFirst, metaOpcode, metaSeq, metricAdd, metricDefine,
  metricDefineStr, nowNs, register, reject, rejectStr, resultClose, resultContinue, resultDrop, sendMessage, setTick,
} from "../../assemblyscript/assembly/index";
export * from "../../assemblyscript/assembly/exports";

const WORD_MAX: u32 = 32;
const SUMMARY_MAX: u32 = 64;
const SCRATCH: u32 = 1024;

// Bytes is a UTF-8 string in linear memory, encoded once at start-up: the
// stub runtime never frees, so nothing is encoded per message.
class Bytes {
  constructor(public ptr: usize, public len: u32) {}
}

function lit(s: string): Bytes {
  const b = String.UTF8.encode(s);
  return new Bytes(changetype<usize>(b), <u32>b.byteLength);
}

const KEY_REJECT = lit("request.header.x-tck-reject");
const KEY_REJECT_BARE = lit("request.header.x-tck-reject-bare");
const KEY_OPEN = lit("request.header.x-tck-open");
const KEY_LAST_CLOSE = lit("last-close");
const KEY_ENDED = lit("ended");
const KEY_TICKS = lit("ticks");
const KEY_DRAIN = lit("drain-deadline");
const TICK = lit("tick");
const INVALID_UTF8 = lit("..");
store<u8>(INVALID_UTF8.ptr, 0xff);
store<u8>(INVALID_UTF8.ptr + 1, 0xfe);

// Keys and values copied out of the buffer before the host writes into it.
const scratch: usize = heap.alloc(<usize>SCRATCH);

// ---- bytes and numbers ----

function eq(p: usize, n: u32, s: string): bool {
  if (n != <u32>s.length) return false;
  for (let i: u32 = 0; i < n; i++) {
    if (<u32>load<u8>(p + i) != <u32>s.charCodeAt(i)) return false;
  }
  return true;
}

// putInt writes decimal v at p and returns its length.
function putInt(p: usize, v: i64): u32 {
  let u: u64 = v < 0 ? <u64>(-(v + 1)) + 1 : <u64>v;
  let o: u32 = 0;
  if (v < 0) store<u8>(p + o++, 0x2d);
  let digits: u32 = 0;
  let t = u;
  do {
    digits++;
    t /= 10;
  } while (t != 0);
  for (let i: u32 = digits; i > 0; i--) {
    store<u8>(p + o + i - 1, <u8>(0x30 + u % 10));
    u /= 10;
  }
  return o + digits;
}

function putStr(p: usize, s: string): u32 {
  for (let i = 0; i < s.length; i++) store<u8>(p + i, <u8>s.charCodeAt(i));
  return <u32>s.length;
}

// parseInt reads an optional '-' and the digits that follow.
function parseInt(p: usize, n: u32): i64 {
  let i: u32 = 0;
  const neg = n > 0 && load<u8>(p) == 0x2d;
  if (neg) i++;
  let v: i64 = 0;
  for (; i < n; i++) {
    const c = load<u8>(p + i);
    if (c < 0x30 || c > 0x39) break;
    v = v * 10 + <i64>(c - 0x30);
  }
  return neg ? -v : v;
}

// wordLen is the length of the word before the first space of p; restPtr
// and restLen are what follows that space (empty without one).
function wordLen(p: usize, n: u32): u32 {
  let i: u32 = 0;
  while (i < n && load<u8>(p + i) != 0x20) i++;
  return i;
}
function restPtr(p: usize, n: u32, w: u32): usize {
  return w < n ? p + w + 1 : p + n;
}
function restLen(n: u32, w: u32): u32 {
  return w < n ? n - w - 1 : 0;
}

function putMeta(p: usize, meta: i64): u32 {
  let o = putInt(p, metaDir(meta));
  store<u8>(p + o++, 0x20);
  o += putInt(p + o, metaOpcode(meta));
  store<u8>(p + o++, 0x20);
  o += putInt(p + o, metaFin(meta) ? 1 : 0);
  store<u8>(p + o++, 0x20);
  o += putInt(p + o, metaFirst(meta) ? 1 : 0);
  store<u8>(p + o++, 0x20);
  return o + putInt(p + o, metaSeq(meta));
}

function answerInt(p: usize, v: i64): i64 {
  return resultContinue(putInt(p, v));
}

function answerErr(p: usize, status: i64): i64 {
  const o = putStr(p, "ERR ");
  return resultContinue(o + putInt(p + o, status));
}

// ---- sessions ----

// Session is the state the guest keeps keyed by sid (ABI §6).
class Session {
  msgs: u32 = 0;
  handshaken: bool = false;
  wordLen: u32 = 0;
  word: usize = heap.alloc(<usize>WORD_MAX);
  summaryLen: u32 = 0;
  summary: usize = heap.alloc(<usize>SUMMARY_MAX);
  constructor(public sid: u32) {}
}

class Tck extends Filter {
  sessions: Map<u32, Session> = new Map<u32, Session>();
  metrics: StaticArray<i32> = [-1, -1, -1];
  frames: bool = false;

  state(sid: u32): Session {
    if (!this.sessions.has(sid)) this.sessions.set(sid, new Session(sid));
    return this.sessions.get(sid);
  }

  init(configLen: u32): i32 {
    this.metrics[0] = metricDefineStr(COUNTER, "tck_counter");
    this.metrics[1] = metricDefineStr(GAUGE, "tck_gauge");
    this.metrics[2] = metricDefineStr(HISTOGRAM, "tck_histogram");
    if (this.metrics[0] < 0 || this.metrics[1] < 0 || this.metrics[2] < 0) return 3;
    const n = getConfig(scratch, SCRATCH);
    if (n < 0 || <u32>n != configLen) return 5;
    // A configuration longer than the scratch was not written: no words.
    let p = scratch;
    let left: u32 = <u32>n <= SCRATCH ? <u32>n : 0;
    while (left > 0) {
      const w = wordLen(p, left);
      if (eq(p, w, "fail-init")) return 7;
      if (eq(p, w, "frames")) this.frames = (enableFeatures(FEATURE_FRAMES) & FEATURE_FRAMES) != 0;
      if (eq(p, w, "tick")) setTick(10);
      const next = restPtr(p, left, w);
      left = restLen(left, w);
      p = next;
    }
    logStr(LOG_INFO, "tck init");
    return 0;
  }

  onHandshake(sid: u32, propsLen: u32): i32 {
    const p = bufferPtr();
    let off: u32 = 0;
    let records: i64 = 0;
    let multi: i64 = 0;
    let path: usize = 0;
    let pathLen: u32 = 0;
    while (propsLen - off >= 4) {
      const k = load<u32>(p + off);
      off += 4;
      if (k > propsLen - off || propsLen - off - k < 4) break;
      const key = p + off;
      off += k;
      const v = load<u32>(p + off);
      off += 4;
      if (v > propsLen - off) break;
      records++;
      if (eq(key, k, "request.path")) {
        path = p + off;
        pathLen = v;
      }
      if (eq(key, k, "request.header.x-tck-multi")) multi++;
      off += v;
    }
    const s = this.state(sid);
    const line = scratch;
    let o = putInt(line, records);
    store<u8>(line + o++, 0x20);
    if (pathLen > SUMMARY_MAX) pathLen = SUMMARY_MAX;
    memory.copy(line + o, path, pathLen);
    o += pathLen;
    store<u8>(line + o++, 0x20);
    o += putInt(line + o, multi);
    s.summaryLen = o < SUMMARY_MAX ? o : SUMMARY_MAX;
    memory.copy(s.summary, line, s.summaryLen);
    s.handshaken = true;

    const n = getProperty(sid, KEY_REJECT.ptr, KEY_REJECT.len, scratch, SCRATCH);
    if (n >= 0) {
      const len: u32 = <u32>n < SCRATCH ? <u32>n : SCRATCH;
      const w = wordLen(scratch, len);
      reject(<u32>parseInt(scratch, w), restPtr(scratch, len, w), restLen(len, w));
      return HANDSHAKE_REJECT;
    }
    if (getProperty(sid, KEY_REJECT_BARE.ptr, KEY_REJECT_BARE.len, 0, 0) >= 0) return HANDSHAKE_REJECT;
    return HANDSHAKE_CONTINUE;
  }

  onOpen(sid: u32): i32 {
    const n = getProperty(sid, KEY_OPEN.ptr, KEY_OPEN.len, scratch, SCRATCH);
    if (n >= 0 && eq(scratch, <u32>n, "close")) {
      closeSessionStr(sid, 4002, "closed at open");
      return 0;
    }
    if (n >= 0 && eq(scratch, <u32>n, "fail")) return 1;
    return 0;
  }

  onClose(sid: u32, code: u32, byPeer: bool): void {
    let o = putInt(scratch, code);
    store<u8>(scratch + o++, 0x20);
    o += putInt(scratch + o, byPeer ? 1 : 0);
    kvSet(KEY_LAST_CLOSE.ptr, KEY_LAST_CLOSE.len, scratch, o, 0);
  }

  onSessionEnd(sid: u32): void {
    this.sessions.delete(sid);
    kvIncr(KEY_ENDED.ptr, KEY_ENDED.len, 1);
  }

  onTick(): void {
    kvIncr(KEY_TICKS.ptr, KEY_TICKS.len, 1);
    const all = this.sessions.values();
    for (let i = 0; i < all.length; i++) {
      const s = all[i];
      if (eq(s.word, s.wordLen, "tick-send")) {
        s.wordLen = 0;
        sendMessage(s.sid, makeMeta(BACKEND_TO_CLIENT, OP_TEXT), TICK.ptr, TICK.len);
      } else if (eq(s.word, s.wordLen, "tick-close")) {
        s.wordLen = 0;
        closeSessionStr(s.sid, 4004, "tick");
      }
    }
  }

  onDrain(sid: u32, deadlineMs: u32): i32 {
    kvSet(KEY_DRAIN.ptr, KEY_DRAIN.len, scratch, putInt(scratch, deadlineMs), 0);
    if (!this.sessions.has(sid)) return DRAIN_KEEP;
    const s = this.sessions.get(sid);
    if (eq(s.word, s.wordLen, "drain-now")) return DRAIN_CLOSE_NOW;
    if (eq(s.word, s.wordLen, "drain-close")) closeSessionStr(sid, 4003, "drain");
    return DRAIN_KEEP;
  }

  onMessage(sid: u32, meta: i64, len: u32): i64 {
    const p = bufferPtr();
    const s = this.state(sid);
    s.msgs++;
    if (this.frames) return resultContinue(putMeta(p, meta));
    if (metaOpcode(meta) != OP_TEXT) return resultContinue(len);

    const cl = wordLen(p, len);
    let arg = restPtr(p, len, cl);
    let argLen = restLen(len, cl);

    if (eq(p, cl, "echo")) {
      memory.copy(p, arg, argLen);
      return resultContinue(argLen);
    }
    if (eq(p, cl, "upper")) {
      for (let i: u32 = 0; i < argLen; i++) {
        const c = load<u8>(arg + i);
        store<u8>(p + i, c >= 0x61 && c <= 0x7a ? c - 0x20 : c);
      }
      return resultContinue(argLen);
    }
    if (eq(p, cl, "cap")) return answerInt(p, bufferCap());
    if (eq(p, cl, "grow")) {
      const n = <u32>parseInt(arg, argLen);
      const cap = bufferCap();
      for (let i: u32 = 0; i < n && i < cap; i++) store<u8>(p + i, 0x78);
      return resultContinue(n);
    }
    if (eq(p, cl, "drop")) return resultDrop();
    if (eq(p, cl, "close-action")) return resultClose();
    if (eq(p, cl, "close") || eq(p, cl, "close-sid")) {
      let target = sid;
      if (eq(p, cl, "close-sid")) {
        const w = wordLen(arg, argLen);
        target = <u32>parseInt(arg, w);
        const next = restPtr(arg, argLen, w);
        argLen = restLen(argLen, w);
        arg = next;
      }
      const w = wordLen(arg, argLen);
      const st = closeSession(target, <u32>parseInt(arg, w), restPtr(arg, argLen, w), restLen(argLen, w));
      return answerInt(p, st);
    }
    if (eq(p, cl, "send-back")) {
      return answerInt(p, sendMessage(sid, makeMeta(BACKEND_TO_CLIENT, OP_TEXT), arg, argLen));
    }
    if (eq(p, cl, "send-forward")) {
      return answerInt(p, sendMessage(sid, makeMeta(CLIENT_TO_BACKEND, OP_BINARY), arg, argLen));
    }
    if (eq(p, cl, "send-sid")) {
      const w = wordLen(arg, argLen);
      const target = <u32>parseInt(arg, w);
      return answerInt(p, sendMessage(target, makeMeta(BACKEND_TO_CLIENT, OP_TEXT), restPtr(arg, argLen, w), restLen(argLen, w)));
    }
    if (eq(p, cl, "send-invalid")) {
      return answerInt(p, sendMessage(sid, makeMeta(BACKEND_TO_CLIENT, OP_TEXT), INVALID_UTF8.ptr, INVALID_UTF8.len));
    }
    if (eq(p, cl, "prop") || eq(p, cl, "prop0") || eq(p, cl, "prop-len")) {
      const kl = argLen < SCRATCH ? argLen : SCRATCH;
      memory.copy(scratch, arg, kl);
      const target = eq(p, cl, "prop0") ? 0 : sid;
      const onlyLen = eq(p, cl, "prop-len");
      const r = onlyLen ? getProperty(target, scratch, kl, 0, 0) : getProperty(target, scratch, kl, p, bufferCap());
      if (r < 0) return answerErr(p, -r);
      if (onlyLen) return answerInt(p, r);
      return resultContinue(<u32>r);
    }
    if (eq(p, cl, "hs")) {
      if (!s.handshaken) return resultContinue(putStr(p, "-"));
      memory.copy(p, s.summary, s.summaryLen);
      return resultContinue(s.summaryLen);
    }
    if (eq(p, cl, "config")) return resultContinue(<u32>getConfig(p, bufferCap()));
    if (eq(p, cl, "log")) {
      const w = wordLen(arg, argLen);
      const level = <i32>parseInt(arg, w);
      log(level, restPtr(arg, argLen, w), restLen(argLen, w));
      return answerInt(p, logEnabled(level));
    }
    if (eq(p, cl, "metric")) {
      const w = wordLen(arg, argLen);
      const id = eq(arg, w, "counter") ? this.metrics[0]
        : eq(arg, w, "gauge") ? this.metrics[1]
        : eq(arg, w, "histogram") ? this.metrics[2] : -1;
      metricAdd(id, parseInt(restPtr(arg, argLen, w), restLen(argLen, w)));
      return answerInt(p, id);
    }
    if (eq(p, cl, "metric-define")) {
      const w = wordLen(arg, argLen);
      return answerInt(p, metricDefine(<i32>parseInt(arg, w), restPtr(arg, argLen, w), restLen(argLen, w)));
    }
    if (eq(p, cl, "kv-set")) {
      const kl = wordLen(arg, argLen);
      const rest = restPtr(arg, argLen, kl);
      const rl = restLen(argLen, kl);
      const cw = wordLen(rest, rl);
      return answerInt(p, kvSet(arg, kl, restPtr(rest, rl, cw), restLen(rl, cw), <u32>parseInt(rest, cw)));
    }
    if (eq(p, cl, "kv-get")) {
      const r = kvGet(arg, argLen, scratch, SCRATCH);
      if (r < 0) return answerErr(p, -r);
      let o = putInt(p, kvCas(r));
      store<u8>(p + o++, 0x20);
      o += putInt(p + o, kvLen(r));
      if (kvLen(r) <= SCRATCH) {
        store<u8>(p + o++, 0x20);
        memory.copy(p + o, scratch, kvLen(r));
        o += kvLen(r);
      }
      return resultContinue(o);
    }
    if (eq(p, cl, "kv-incr")) {
      const kl = wordLen(arg, argLen);
      const v = kvIncr(arg, kl, parseInt(restPtr(arg, argLen, kl), restLen(argLen, kl)));
      if (v == KV_INCR_ERROR) return resultContinue(putStr(p, "ERR"));
      return answerInt(p, v);
    }
    if (eq(p, cl, "now")) return answerInt(p, nowNs());
    if (eq(p, cl, "count")) return answerInt(p, s.msgs);
    if (eq(p, cl, "state-set")) {
      s.wordLen = argLen < WORD_MAX ? argLen : WORD_MAX;
      memory.copy(s.word, arg, s.wordLen);
      return resultContinue(putStr(p, "ok"));
    }
    if (eq(p, cl, "state-get")) {
      memory.copy(p, s.word, s.wordLen);
      return resultContinue(s.wordLen);
    }
    if (eq(p, cl, "sessions")) return answerInt(p, this.sessions.size);
    if (eq(p, cl, "sid")) return answerInt(p, sid);
    if (eq(p, cl, "meta")) return resultContinue(putMeta(p, meta));
    if (eq(p, cl, "features")) return answerInt(p, enableFeatures(FEATURE_FRAMES));
    if (eq(p, cl, "reject")) return answerInt(p, rejectStr(403, "no"));
    if (eq(p, cl, "trap")) unreachable();
    if (eq(p, cl, "spin")) {
      while (true) spins++;
    }
    return resultContinue(len);
  }
}

// spins keeps the spin loop from being optimised away.
let spins: u32 = 0;

register(new Tck());
