//! Route lookups: GET_ROUTEINFO_BY_TOPIC and GET_BROKER_CLUSTER_INFO.

use std::collections::BTreeSet;

use sluice_remoting::body::{JsonBody, TopicRouteData};
use sluice_remoting::header::GetRouteInfoRequestHeader;
use sluice_remoting::{RemotingCommand, ResponseCode};

use super::{failure, success, Reply};
use crate::kv::NAMESPACE_ORDER_TOPIC_CONFIG;
use crate::state::NamesrvState;

/// Ext fields of zone-aware clients (`MixAll.ZONE_MODE`, `MixAll.ZONE_NAME`).
const ZONE_MODE: &str = "__ZONE_MODE";
const ZONE_NAME: &str = "__ZONE_NAME";

/// Apache's hint appended to "no route" remarks (`FAQUrl.suggestTodo(APPLY_TOPIC_URL)`).
const APPLY_TOPIC_HINT: &str =
    "\nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details.";

pub(super) fn topic_route(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    let h: GetRouteInfoRequestHeader = request.decode_header()?;
    let Some(mut route) = state.routes.topic_route(&h.topic) else {
        return Ok(failure(
            request,
            ResponseCode::TopicNotExist,
            format!(
                "No topic route info in name server for the topic: {}{APPLY_TOPIC_HINT}",
                h.topic
            ),
        ));
    };
    let zone_mode = request
        .ext(ZONE_MODE)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if let Some(zone) = request
        .ext(ZONE_NAME)
        .filter(|z| zone_mode && !z.trim().is_empty())
    {
        keep_zone(&mut route, zone);
    }
    if state.config().order_message_enable {
        route.order_topic_conf = state.kv.get(NAMESPACE_ORDER_TOPIC_CONFIG, &h.topic);
    }
    // Clients older than V4_9_4 (Go, C++, Python, old Java) get fastjson's `{0:"..."}` keys.
    let body = route.encode_for(
        request.version,
        h.accept_standard_json_only.unwrap_or(false),
    );
    Ok(success(request).with_body(body))
}

/// Zone-aware clients (`__ZONE_MODE=true`, `__ZONE_NAME=z`) see only the brokers of their zone,
/// plus any group without a master (consumers may still read from its slaves), as Apache's
/// `ZoneRouteRPCHook` does. (Apache then re-encodes in the legacy form whatever the client's
/// version; Sluice keeps the form the version asks for.)
fn keep_zone(route: &mut TopicRouteData, zone: &str) {
    let mut removed = BTreeSet::new();
    route.broker_datas.retain(|b| {
        let keep = b.master_addr().is_none()
            || b.zone_name
                .as_deref()
                .is_some_and(|z| z.eq_ignore_ascii_case(zone));
        if !keep {
            removed.insert(b.broker_name.clone());
            for addr in b.broker_addrs.values() {
                route.filter_server_table.remove(addr);
            }
        }
        keep
    });
    route
        .queue_datas
        .retain(|q| !removed.contains(&q.broker_name));
}

pub(super) fn cluster_info(state: &NamesrvState, request: &RemotingCommand) -> Reply {
    Ok(success(request).with_body(state.routes.cluster_info().encode()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_remoting::body::{BrokerData, QueueData};

    fn group(name: &str, zone: Option<&str>, master: bool) -> (BrokerData, QueueData) {
        let mut b = BrokerData {
            broker_name: name.into(),
            zone_name: zone.map(String::from),
            ..Default::default()
        };
        b.broker_addrs
            .insert(if master { 0 } else { 1 }, format!("{name}:10911"));
        let q = QueueData {
            broker_name: name.into(),
            ..Default::default()
        };
        (b, q)
    }

    #[test]
    fn zone_mode_keeps_the_zone_and_masterless_groups() {
        let mut route = TopicRouteData::default();
        for (name, zone, master) in [
            ("near", Some("ZoneA"), true),
            ("far", Some("ZoneB"), true),
            ("unzoned", None, true),
            ("orphan", Some("ZoneB"), false),
        ] {
            let (b, q) = group(name, zone, master);
            route
                .filter_server_table
                .insert(format!("{name}:10911"), vec!["f".into()]);
            route.broker_datas.push(b);
            route.queue_datas.push(q);
        }
        keep_zone(&mut route, "zonea");
        let names: Vec<_> = route
            .broker_datas
            .iter()
            .map(|b| b.broker_name.as_str())
            .collect();
        assert_eq!(names, ["near", "orphan"]);
        let queues: Vec<_> = route
            .queue_datas
            .iter()
            .map(|q| q.broker_name.as_str())
            .collect();
        assert_eq!(queues, ["near", "orphan"]);
        assert_eq!(route.filter_server_table.len(), 2);
    }
}
