//! Delay-level delivery (Apache's `ScheduleMessageService`).
//!
//! A send with `DELAY=n` is stored in `SCHEDULE_TOPIC_XXXX` queue `n − 1`, and the store writes its
//! delivery time into the ConsumeQueue tag slot. This module moves each such message to its real
//! topic and queue once that time has come:
//! - [`levels`]: `messageDelayLevel` ("1s 5s ... 2h") parsed into milliseconds per level.
//! - [`offsets`]: `{root}/config/delayOffset.json`, the next queue offset of every level.
//! - [`service`]: [`ScheduleService`], one tokio task per level plus the periodic offset writer.

pub mod levels;
pub mod offsets;
pub mod service;

pub use levels::{parse_delay_levels, DelayLevelError};
pub use offsets::DelayOffsetTable;
pub use service::ScheduleService;
