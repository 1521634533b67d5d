//! passthrough: the smallest weir filter. Every message is forwarded as is.
#![no_std]

use weir::{Action, Filter, Meta, Payload};

struct Passthrough;

impl Filter for Passthrough {
    fn on_message(&mut self, _sid: u32, _meta: Meta, _payload: &mut Payload) -> Action {
        Action::Continue
    }
}

weir::filter!(Passthrough, Passthrough);
