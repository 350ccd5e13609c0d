//! The send-path side of the timer: which sends are timer messages, their delivery time, and
//! the rewrite into `rmq_sys_wheel_timer` (Apache's `HookUtils.checkIfTimerMessage` /
//! `transformTimerMessage`, with the differences noted on [`redirect_if_timed`]).

use sluice_remoting::message::{property, Properties};
use sluice_remoting::ResponseCode;

use crate::config::BrokerConfig;
use crate::timer::TIMER_TOPIC;

/// Why a timer send is refused: the response code and remark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerRefusal {
    pub code: ResponseCode,
    pub remark: String,
}

fn illegal(remark: String) -> TimerRefusal {
    TimerRefusal {
        code: ResponseCode::MessageIllegal,
        remark,
    }
}

/// The 5.x properties asking for an arbitrary delivery time, in Apache's order of precedence.
const TIMER_PROPERTIES: [&str; 3] = [
    property::TIMER_DELAY_SEC,
    property::TIMER_DELAY_MS,
    property::TIMER_DELIVER_MS,
];

/// Whether the send carries a delivery time the timer would honour (a 5.x timer property, or
/// `__STARTDELIVERTIME` while the timer is enabled), and is not already a timer message.
pub fn is_timer_message(props: &Properties, config: &BrokerConfig) -> bool {
    if props.contains(property::TIMER_OUT_MS) {
        return false;
    }
    TIMER_PROPERTIES.iter().any(|p| props.contains(p))
        || (config.timer_wheel_enable && props.contains(property::START_DELIVER_TIME))
}

fn parse(name: &str, value: &str) -> Result<i64, TimerRefusal> {
    value.trim().parse::<i64>().map_err(|_| {
        illegal(format!(
            "timer message property {name} = `{value}` is not a whole number"
        ))
    })
}

/// The requested delivery time in ms since the epoch, `None` when the send asks for none.
/// Relative delays must not be negative and absolute times must be positive; a time further
/// than `timerMaxDelaySec` from now is refused. A time already past is returned as is.
pub fn delivery_time(
    props: &Properties,
    now: i64,
    max_delay_sec: u64,
) -> Result<Option<i64>, TimerRefusal> {
    let overflow = |name: &str, v: &str| {
        illegal(format!(
            "timer message property {name} = `{v}` is out of range"
        ))
    };
    let mut used = property::TIMER_DELAY_SEC;
    let deliver_ms = if let Some(v) = props.get(property::TIMER_DELAY_SEC) {
        let sec = parse(property::TIMER_DELAY_SEC, v)?;
        if sec < 0 {
            return Err(illegal(format!(
                "timer message property {} = {sec} is negative",
                property::TIMER_DELAY_SEC
            )));
        }
        sec.checked_mul(1000)
            .and_then(|ms| now.checked_add(ms))
            .ok_or_else(|| overflow(property::TIMER_DELAY_SEC, v))?
    } else if let Some(v) = props.get(property::TIMER_DELAY_MS) {
        used = property::TIMER_DELAY_MS;
        let ms = parse(property::TIMER_DELAY_MS, v)?;
        if ms < 0 {
            return Err(illegal(format!(
                "timer message property {} = {ms} is negative",
                property::TIMER_DELAY_MS
            )));
        }
        now.checked_add(ms)
            .ok_or_else(|| overflow(property::TIMER_DELAY_MS, v))?
    } else {
        let Some((name, v)) = [property::TIMER_DELIVER_MS, property::START_DELIVER_TIME]
            .into_iter()
            .find_map(|name| props.get(name).map(|v| (name, v)))
        else {
            return Ok(None);
        };
        used = name;
        let at = parse(name, v)?;
        if at <= 0 {
            return Err(illegal(format!(
                "timer message property {name} = {at} is not a time (ms since 1970)"
            )));
        }
        at
    };
    let max_ms = (max_delay_sec as i64).saturating_mul(1000);
    if deliver_ms.saturating_sub(now) > max_ms {
        return Err(illegal(format!(
            "timer message property {used} asks for delivery at {deliver_ms}, {} ms from now, beyond the limit of {max_delay_sec} s (timerMaxDelaySec)",
            deliver_ms - now
        )));
    }
    Ok(Some(deliver_ms))
}

/// Rewrites a timed send for the timer: topic `rmq_sys_wheel_timer` queue 0 with TIMER_OUT_MS
/// (the exact delivery time), REAL_TOPIC and REAL_QID. Called for non-transactional sends before
/// the delay-level rewrite.
///
/// - DELAY level > 0 wins: the timer properties are removed (as Apache does).
/// - A 5.x timer property while `timerWheelEnable=false` is refused with SYSTEM_ERROR (Apache's
///   WHEEL_TIMER_NOT_ENABLE); `__STARTDELIVERTIME` is then ignored, as Apache's broker does.
/// - A delivery time not in the future leaves the send as it is: it is stored in its topic at once.
/// - Unlike Apache, the delivery time is not rounded down to `timerPrecisionMs`: the timer keeps
///   the exact time and never delivers early.
pub fn redirect_if_timed(
    config: &BrokerConfig,
    now: i64,
    delay_level: i32,
    topic: &mut String,
    queue_id: &mut i32,
    props: &mut Properties,
) -> Result<(), TimerRefusal> {
    if delay_level > 0 {
        for p in TIMER_PROPERTIES {
            props.remove(p);
        }
        return Ok(());
    }
    if !is_timer_message(props, config) {
        return Ok(());
    }
    if !config.timer_wheel_enable {
        return Err(TimerRefusal {
            code: ResponseCode::SystemError,
            remark: "timer messages are not enabled on this broker (timerWheelEnable=false)"
                .to_owned(),
        });
    }
    let Some(deliver_ms) = delivery_time(props, now, config.timer_max_delay_sec)? else {
        return Ok(());
    };
    if deliver_ms <= now {
        return Ok(());
    }
    props.insert(property::TIMER_OUT_MS, deliver_ms.to_string());
    props.insert(property::REAL_TOPIC, topic.as_str());
    props.insert(property::REAL_QID, queue_id.to_string());
    *topic = TIMER_TOPIC.to_owned();
    *queue_id = 0;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(kv: &[(&str, &str)]) -> Properties {
        let mut p = Properties::new();
        for (k, v) in kv {
            p.insert(k, v);
        }
        p
    }

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn each_property_gives_its_time() {
        let t = |kv: &[(&str, &str)]| delivery_time(&props(kv), NOW, 259_200).unwrap();
        assert_eq!(t(&[("TIMER_DELAY_SEC", "3")]), Some(NOW + 3000));
        assert_eq!(t(&[("TIMER_DELAY_MS", "1500")]), Some(NOW + 1500));
        assert_eq!(
            t(&[("TIMER_DELIVER_MS", "1700000005000")]),
            Some(NOW + 5000)
        );
        assert_eq!(
            t(&[("__STARTDELIVERTIME", "1700000007000")]),
            Some(NOW + 7000)
        );
        assert_eq!(
            t(&[("TIMER_DELAY_SEC", "2"), ("TIMER_DELIVER_MS", "1")]),
            Some(NOW + 2000)
        );
        assert_eq!(t(&[("TIMER_DELIVER_MS", "1000")]), Some(1000), "past: kept");
        assert_eq!(t(&[("TAGS", "x")]), None);
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let e = |kv: &[(&str, &str)]| delivery_time(&props(kv), NOW, 60).unwrap_err();
        let r = e(&[("TIMER_DELAY_SEC", "-1")]);
        assert_eq!(r.code, ResponseCode::MessageIllegal);
        assert!(r.remark.contains("negative"), "{}", r.remark);
        assert!(e(&[("TIMER_DELAY_MS", "-5")]).remark.contains("negative"));
        assert!(e(&[("TIMER_DELIVER_MS", "soon")]).remark.contains("`soon`"));
        assert!(e(&[("TIMER_DELIVER_MS", "-3")])
            .remark
            .contains("not a time"));
        assert!(e(&[("TIMER_DELAY_SEC", "61")])
            .remark
            .contains("timerMaxDelaySec"));
        assert!(e(&[("TIMER_DELAY_SEC", "9223372036854775807")])
            .remark
            .contains("out of range"));
        // Exactly the limit is fine.
        assert!(delivery_time(&props(&[("TIMER_DELAY_SEC", "60")]), NOW, 60).is_ok());
    }

    #[test]
    fn redirect_rewrites_future_sends_only() {
        let config = BrokerConfig::default();
        let (mut topic, mut qid) = ("Orders".to_owned(), 3);
        let mut p = props(&[("TIMER_DELAY_SEC", "10")]);
        redirect_if_timed(&config, NOW, 0, &mut topic, &mut qid, &mut p).unwrap();
        assert_eq!((topic.as_str(), qid), (TIMER_TOPIC, 0));
        assert_eq!(p.get("TIMER_OUT_MS"), Some("1700000010000"));
        assert_eq!(p.get("REAL_TOPIC"), Some("Orders"));
        assert_eq!(p.get("REAL_QID"), Some("3"));

        let (mut topic, mut qid) = ("Orders".to_owned(), 3);
        let mut p = props(&[("TIMER_DELIVER_MS", "5")]);
        redirect_if_timed(&config, NOW, 0, &mut topic, &mut qid, &mut p).unwrap();
        assert_eq!((topic.as_str(), qid), ("Orders", 3), "past: stored as is");

        let mut p = props(&[("TIMER_DELAY_SEC", "10"), ("DELAY", "2")]);
        redirect_if_timed(&config, NOW, 2, &mut topic, &mut qid, &mut p).unwrap();
        assert_eq!(topic, "Orders");
        assert!(!p.contains("TIMER_DELAY_SEC"), "the level wins");

        let off = BrokerConfig {
            timer_wheel_enable: false,
            ..BrokerConfig::default()
        };
        let mut p = props(&[("TIMER_DELAY_SEC", "10")]);
        let r = redirect_if_timed(&off, NOW, 0, &mut topic, &mut qid, &mut p).unwrap_err();
        assert_eq!(r.code, ResponseCode::SystemError);
        let mut p = props(&[("__STARTDELIVERTIME", "1700000010000")]);
        redirect_if_timed(&off, NOW, 0, &mut topic, &mut qid, &mut p).unwrap();
        assert_eq!(topic, "Orders", "ignored while the timer is off");

        // Already a timer message (TIMER_OUT_MS): never timed again.
        let mut p = props(&[("TIMER_DELAY_SEC", "10"), ("TIMER_OUT_MS", "1")]);
        redirect_if_timed(&config, NOW, 0, &mut topic, &mut qid, &mut p).unwrap();
        assert_eq!(topic, "Orders");
    }
}
