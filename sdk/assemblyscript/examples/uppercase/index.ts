// uppercase: rewrites text messages to upper case in place (ASCII letters
// only, so UTF-8 stays valid); binary messages pass unchanged. It counts the
// messages it rewrote in the metric "uppercase_messages".
import {
  COUNTER, Filter, OP_CONTINUATION, OP_TEXT, bufferPtr, metaOpcode, metricAdd,
  metricDefineStr, register, resultContinue,
} from "../../assembly/index";
export * from "../../assembly/exports";

class Uppercase extends Filter {
  rewritten: i32 = -1;

  init(configLen: u32): i32 {
    this.rewritten = metricDefineStr(COUNTER, "uppercase_messages");
    return this.rewritten < 0 ? 1 : 0;
  }

  onMessage(sid: u32, meta: i64, len: u32): i64 {
    const op = metaOpcode(meta);
    if (op == OP_TEXT || op == OP_CONTINUATION) {
      const p = bufferPtr();
      for (let i: usize = 0; i < <usize>len; i++) {
        const c = load<u8>(p + i);
        if (c >= 0x61 && c <= 0x7a) store<u8>(p + i, c - 0x20);
      }
      metricAdd(this.rewritten, 1);
    }
    return resultContinue(len);
  }
}

register(new Uppercase());
