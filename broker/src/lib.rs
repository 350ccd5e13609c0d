//! `sluice-broker`: the broker behind `mqbroker`.
