//! weir: the Rust SDK for weir message filters (ABI v1, see sdk/ABI.md).
//!
//! A filter implements [`Filter`] and names its type with [`filter!`], which
//! generates the module's hook exports. The SDK itself exports
//! `weir_abi_v1` and `weir_buffer`, owns the buffer the host copies
//! payloads through, and wraps the `weir_v1` imports ([`host`]).
//!
//! Build for `wasm32-unknown-unknown`; no dependencies, `#![no_std]`, no
//! allocator.
#![no_std]

pub mod host;
mod meta;

pub use meta::{Action, KvResult, Meta, Status};

/// Directions (meta bit 0).
pub const CLIENT_TO_BACKEND: u32 = 0;
pub const BACKEND_TO_CLIENT: u32 = 1;
/// Opcodes (meta bits 1-4).
pub const OP_CONTINUATION: u32 = 0;
pub const OP_TEXT: u32 = 1;
pub const OP_BINARY: u32 = 2;
/// Feature bit of [`host::enable_features`]: deliver single frames.
pub const FEATURE_FRAMES: i32 = 1;
/// Log levels.
pub const LOG_DEBUG: i32 = -1;
pub const LOG_INFO: i32 = 0;
pub const LOG_WARN: i32 = 1;
pub const LOG_ERROR: i32 = 2;
/// Metric kinds.
pub const COUNTER: i32 = 0;
pub const GAUGE: i32 = 1;
pub const HISTOGRAM: i32 = 2;

/// The handshake's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    Continue = 0,
    /// Refuse: with the status given to [`host::reject`], else 403.
    Reject = 1,
}

/// What a session of a version being replaced does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drain {
    /// Stay until the session ends or the deadline passes.
    Keep = 0,
    /// Close now with 1012.
    CloseNow = 1,
}

/// The message (or handshake properties) in the SDK's buffer. Valid only
/// during the hook that received it.
pub struct Payload {
    ptr: *mut u8,
    len: usize,
    cap: usize,
}

impl Payload {
    /// The payload's bytes.
    pub fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: [ptr, ptr+len) lies in the buffer the host filled.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
    /// The whole buffer, to build a longer output (then [`Payload::set_len`]).
    pub fn buffer(&mut self) -> &mut [u8] {
        // SAFETY: [ptr, ptr+cap) is the buffer lent to the host.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.cap) }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The buffer's capacity, at least `len + len/4 + 1024` for a message.
    pub fn capacity(&self) -> usize {
        self.cap
    }
    /// Sets the length forwarded by [`Action::Continue`]; clamped to the
    /// capacity.
    pub fn set_len(&mut self, n: usize) {
        self.len = if n > self.cap { self.cap } else { n };
    }
}

/// A filter. Every hook but `on_message` has a default: accept, forward,
/// keep.
pub trait Filter {
    /// Once per instance (`weir_init`); non-zero fails the instance.
    fn init(&mut self, _config_len: u32) -> i32 {
        0
    }
    /// One message; edit `payload` in place. `Continue` forwards
    /// `payload.len()` bytes.
    fn on_message(&mut self, sid: u32, meta: Meta, payload: &mut Payload) -> Action;
    /// Before the 101; `props` holds the session properties as records of
    /// u32le key length, key, u32le value length, value (see [`props`]).
    fn on_handshake(&mut self, _sid: u32, _props: &[u8]) -> Handshake {
        Handshake::Continue
    }
    fn on_open(&mut self, _sid: u32) -> i32 {
        0
    }
    fn on_close(&mut self, _sid: u32, _code: u16, _by_peer: bool) {}
    /// The last hook for `sid`: free its state.
    fn on_session_end(&mut self, _sid: u32) {}
    fn on_tick(&mut self) {}
    fn on_drain(&mut self, _sid: u32, _deadline_ms: u32) -> Drain {
        Drain::Keep
    }
}

/// Iterates handshake property records: (key, value) pairs; stops at the
/// first malformed record.
pub fn props(mut p: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    core::iter::from_fn(move || {
        let k = read_u32(p)? as usize;
        let rest = p.get(4..)?;
        let key = rest.get(..k)?;
        let rest = rest.get(k..)?;
        let v = read_u32(rest)? as usize;
        let rest = rest.get(4..)?;
        let val = rest.get(..v)?;
        p = rest.get(v..)?;
        Some((key, val))
    })
}

fn read_u32(p: &[u8]) -> Option<u32> {
    let b = p.get(..4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

// ---- the buffer -----------------------------------------------------------
//
// Like the C SDK: the buffer starts at __heap_base and grows with
// memory.grow, so a module's declared memory stays small. The SDK owns all
// memory from __heap_base up; a filter keeps its state in its Filter value.

#[cfg(target_arch = "wasm32")]
extern "C" {
    static __heap_base: u8;
}

static mut BUFFER_CAP: u32 = 0;

#[cfg(target_arch = "wasm32")]
fn buffer_ptr() -> *mut u8 {
    // SAFETY: only the symbol's address is taken.
    unsafe { core::ptr::addr_of!(__heap_base) as *mut u8 }
}

#[cfg(not(target_arch = "wasm32"))]
fn buffer_ptr() -> *mut u8 {
    core::ptr::null_mut()
}

/// The capacity the host last asked for.
pub fn buffer_capacity() -> u32 {
    // SAFETY: one call at a time per instance (ABI §6).
    unsafe { BUFFER_CAP }
}

#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn weir_abi_v1() {}

#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn weir_buffer(min_cap: u32) -> *mut u8 {
    use core::arch::wasm32::{memory_grow, memory_size};
    let base = buffer_ptr() as u64;
    let end = base + u64::from(min_cap);
    let have = memory_size(0) as u64 * 65536;
    if end > have {
        let pages = (end - have + 65535) / 65536;
        if memory_grow(0, pages as usize) == usize::MAX {
            return core::ptr::null_mut();
        }
    }
    // SAFETY: one call at a time per instance (ABI §6).
    unsafe {
        if min_cap > BUFFER_CAP {
            BUFFER_CAP = min_cap;
        }
    }
    buffer_ptr()
}

#[doc(hidden)]
pub fn __payload(len: u32) -> Payload {
    let cap = buffer_capacity() as usize;
    let len = len as usize;
    Payload { ptr: buffer_ptr(), len: if len > cap { cap } else { len }, cap }
}

#[doc(hidden)]
pub fn __on_message<F: Filter>(f: &mut F, sid: u32, meta: i64, len: u32) -> i64 {
    let mut p = __payload(len);
    let action = f.on_message(sid, Meta(meta), &mut p);
    let n = if action == Action::Continue { p.len as u32 } else { 0 };
    ((action as u64) << 32 | u64::from(n)) as i64
}

#[doc(hidden)]
pub fn __on_handshake<F: Filter>(f: &mut F, sid: u32, props_len: u32) -> i32 {
    let mut p = __payload(props_len);
    let props: &[u8] = p.bytes();
    f.on_handshake(sid, props) as i32
}

/// Names the filter's type and its initial value (a constant expression)
/// and generates the module's hook exports, which call it.
///
/// ```ignore
/// struct Pass;
/// impl weir::Filter for Pass {
///     fn on_message(&mut self, _: u32, _: weir::Meta, _: &mut weir::Payload) -> weir::Action {
///         weir::Action::Continue
///     }
/// }
/// weir::filter!(Pass, Pass);
/// ```
#[macro_export]
macro_rules! filter {
    ($ty:ty, $init:expr) => {
        static mut __WEIR_FILTER: $ty = $init;

        fn __weir_filter() -> &'static mut $ty {
            // SAFETY: the host runs one hook of an instance at a time and
            // never re-enters the guest (ABI §6), so this is the only
            // reference while a hook runs.
            unsafe { &mut *::core::ptr::addr_of_mut!(__WEIR_FILTER) }
        }

        #[no_mangle]
        pub extern "C" fn weir_init(config_len: u32) -> i32 {
            $crate::Filter::init(__weir_filter(), config_len)
        }

        #[no_mangle]
        pub extern "C" fn weir_on_message(sid: u32, meta: i64, len: u32) -> i64 {
            $crate::__on_message(__weir_filter(), sid, meta, len)
        }

        #[no_mangle]
        pub extern "C" fn weir_on_handshake(sid: u32, props_len: u32) -> i32 {
            $crate::__on_handshake(__weir_filter(), sid, props_len)
        }

        #[no_mangle]
        pub extern "C" fn weir_on_open(sid: u32) -> i32 {
            $crate::Filter::on_open(__weir_filter(), sid)
        }

        #[no_mangle]
        pub extern "C" fn weir_on_close(sid: u32, code: u32, by_peer: u32) {
            $crate::Filter::on_close(__weir_filter(), sid, code as u16, by_peer != 0)
        }

        #[no_mangle]
        pub extern "C" fn weir_on_session_end(sid: u32) {
            $crate::Filter::on_session_end(__weir_filter(), sid)
        }

        #[no_mangle]
        pub extern "C" fn weir_on_tick() {
            $crate::Filter::on_tick(__weir_filter())
        }

        #[no_mangle]
        pub extern "C" fn weir_on_drain(sid: u32, deadline_ms: u32) -> i32 {
            $crate::Filter::on_drain(__weir_filter(), sid, deadline_ms) as i32
        }
    };
}

#[cfg(all(feature = "panic-handler", target_arch = "wasm32", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_matches_abi_examples() {
        let m = Meta(0x0000_0007_0000_0062);
        assert_eq!((m.dir(), m.opcode(), m.fin(), m.first(), m.seq()), (0, OP_TEXT, true, true, 7));
        let m = Meta(0x0000_0003_0000_0042);
        assert_eq!((m.opcode(), m.fin(), m.first(), m.seq()), (OP_TEXT, false, true, 3));
        assert_eq!(Meta::new(BACKEND_TO_CLIENT, OP_BINARY), Meta(0x65));
    }

    #[test]
    fn kv_result_unpacks() {
        assert_eq!(KvResult(0x0000_0003_0000_0005).get(), Ok((3, 5)));
        assert_eq!(KvResult(-1).get(), Err(Status::NOT_FOUND));
    }

    #[test]
    fn props_iterates_records() {
        let rec = [1, 0, 0, 0, b'k', 2, 0, 0, 0, b'v', b'w', 1, 0, 0, 0, b'x', 9, 0, 0, 0];
        let mut it = props(&rec);
        assert_eq!(it.next(), Some((&b"k"[..], &b"vw"[..])));
        assert_eq!(it.next(), None); // the second record is truncated
    }
}
