//! Packed values of ABI v1: meta (§3.1), actions (§3.2), statuses (§5.1).

/// The message descriptor of ABI §3.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta(pub i64);

impl Meta {
    /// A whole message, for [`crate::host::send_message`].
    pub const fn new(dir: u32, opcode: u32) -> Meta {
        Meta(((dir & 1) | ((opcode & 0xF) << 1) | (1 << 5) | (1 << 6)) as i64)
    }
    pub const fn dir(self) -> u32 {
        self.0 as u32 & 1
    }
    pub const fn opcode(self) -> u32 {
        (self.0 as u32 >> 1) & 0xF
    }
    pub const fn fin(self) -> bool {
        (self.0 as u32 >> 5) & 1 == 1
    }
    pub const fn first(self) -> bool {
        (self.0 as u32 >> 6) & 1 == 1
    }
    /// Earlier messages of the session in this direction, mod 2³².
    pub const fn seq(self) -> u32 {
        (self.0 as u64 >> 32) as u32
    }
}

/// What happens to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Forward the payload (its current length).
    Continue = 0,
    /// Drop the message; the session goes on.
    Drop = 1,
    /// Drop it and close the session (code from close_session, else 1008).
    Close = 2,
}

/// A status of the weir_v1 imports (proxy-wasm numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(pub i32);

impl Status {
    pub const OK: Status = Status(0);
    pub const NOT_FOUND: Status = Status(1);
    pub const BAD_ARGUMENT: Status = Status(2);
    pub const INVALID_MEMORY_ACCESS: Status = Status(6);
    pub const CAS_MISMATCH: Status = Status(8);
    pub const INTERNAL_FAILURE: Status = Status(10);
    pub const UNIMPLEMENTED: Status = Status(12);

    /// Ok for OK, else the status as an error.
    pub fn result(self) -> Result<(), Status> {
        if self.0 == 0 {
            Ok(())
        } else {
            Err(self)
        }
    }
}

/// kv_get's result: `cas << 32 | len`, or a negated status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvResult(pub i64);

impl KvResult {
    /// The value's version and full length, or the failure.
    pub fn get(self) -> Result<(u32, u32), Status> {
        if self.0 < 0 {
            Err(Status(-(self.0 as i32)))
        } else {
            Ok(((self.0 as u64 >> 32) as u32, self.0 as u32))
        }
    }
}
