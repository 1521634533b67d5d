//! uppercase: rewrites text messages to upper case in place (ASCII letters
//! only, so UTF-8 stays valid); binary messages pass unchanged. It counts
//! the messages it rewrote in the metric "uppercase_messages".
#![no_std]

use weir::{host, Action, Filter, Meta, Payload, COUNTER, OP_CONTINUATION, OP_TEXT};

struct Uppercase {
    rewritten: i32,
}

impl Filter for Uppercase {
    fn init(&mut self, _config_len: u32) -> i32 {
        match host::metric_define(COUNTER, "uppercase_messages") {
            Ok(id) => {
                self.rewritten = id;
                0
            }
            Err(_) => 1,
        }
    }

    fn on_message(&mut self, _sid: u32, meta: Meta, payload: &mut Payload) -> Action {
        let op = meta.opcode();
        if op == OP_TEXT || op == OP_CONTINUATION {
            payload.bytes().make_ascii_uppercase();
            host::metric_add(self.rewritten, 1);
        }
        Action::Continue
    }
}

weir::filter!(Uppercase, Uppercase { rewritten: -1 });
