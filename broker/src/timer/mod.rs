//! Arbitrary-time delivery (RocketMQ 5.x timer messages, Apache's `TimerMessageStore` idea).
//!
//! A send carrying `TIMER_DELAY_SEC`, `TIMER_DELAY_MS`, `TIMER_DELIVER_MS` or the 4.x-era
//! `__STARTDELIVERTIME` with a time in the future is stored in the CommitLog under
//! `rmq_sys_wheel_timer` queue 0 (TIMER_OUT_MS = exact delivery time, REAL_TOPIC, REAL_QID) and
//! re-put into its real topic and queue when that time comes:
//! - [`send`]: which sends are timed, their delivery time, bad values refused, the rewrite.
//! - [`log`]: `{root}/timerlog/`, append-only 40-byte entries chained per wheel slot.
//! - [`wheel`]: `{root}/timerwheel`, the mapped ring of per-`timerPrecisionMs` slots (memory
//!   O(slots), not O(messages)).
//! - [`checkpoint`]: `{root}/config/timercheck`, enqueue/dequeue progress and the synced log end.
//! - [`service`]: [`TimerService`], the enqueue, dequeue and checkpoint tasks.

pub mod checkpoint;
pub mod log;
pub mod send;
pub mod service;
pub mod wheel;

pub use send::{delivery_time, is_timer_message, redirect_if_timed, TimerRefusal};
pub use service::{TimerService, TimerStats};

/// The topic timer messages wait in (Apache's `TimerMessageStore.TIMER_TOPIC`).
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";
