//! Every header: write_to -> read_from is the identity, every declared key is written back, the
//! J5 base fields ride along, and required fields are enforced.

use std::collections::BTreeSet;

use sluice_remoting::header::*;
use sluice_remoting::{ExtFields, RemotingError};

/// Fills every key with a value each field type accepts ("1" is a valid string, int32 and int64;
/// as a boolean it reads false, like Java), decodes, re-encodes and checks nothing was lost.
fn check_round_trip<H: CommandHeader + Default + PartialEq + std::fmt::Debug>(
    name: &str,
    keys: &[&str],
    has_rpc: bool,
) {
    let mut input: ExtFields = keys
        .iter()
        .map(|k| (k.to_string().into(), "1".to_string()))
        .collect();
    if has_rpc {
        input.insert("bname".into(), "broker-a".into());
        input.insert("ns".into(), "ns1".into());
        input.insert("nsd".into(), "true".into());
        input.insert("oway".into(), "false".into());
        input.insert("lo".into(), "false".into());
    }
    input.insert("AccessKey".into(), "ignored".into());
    let decoded = H::read_from(&input).unwrap_or_else(|e| panic!("{name}: {e}"));

    let mut output = ExtFields::new();
    decoded.write_to(&mut output);
    let mut expected: BTreeSet<&str> = keys.iter().copied().collect();
    if has_rpc {
        expected.extend(RpcFields::WIRE_KEYS);
    }
    let got: BTreeSet<&str> = output.keys().map(|k| k.as_ref()).collect();
    assert_eq!(got, expected, "{name}: written keys");
    if has_rpc {
        assert_eq!(output["bname"], "broker-a", "{name}");
        assert_eq!(output["nsd"], "true", "{name}");
    }
    assert_eq!(
        H::read_from(&output).unwrap(),
        decoded,
        "{name}: round trip"
    );

    // A header with nothing set writes exactly its required keys, and reading those back
    // needs every one of them.
    let mut minimal = ExtFields::new();
    H::default().write_to(&mut minimal);
    let required: Vec<String> = minimal.keys().map(|k| k.to_string()).collect();
    assert_eq!(H::read_from(&minimal).unwrap(), H::default(), "{name}");
    for key in &required {
        let mut partial = minimal.clone();
        partial.remove(key.as_str());
        match H::read_from(&partial) {
            Err(RemotingError::HeaderField { field, .. }) => assert_eq!(field, key, "{name}"),
            other => panic!("{name}: removing {key} gave {other:?}"),
        }
    }
}

macro_rules! round_trip {
    ($($h:ident $(+ $rpc:ident)?),* $(,)?) => {
        $(
            #[test]
            #[allow(non_snake_case)]
            fn $h() {
                let has_rpc = false $(|| { let $rpc = true; $rpc })?;
                check_round_trip::<$h>(stringify!($h), $h::WIRE_KEYS, has_rpc);
            }
        )*
    };
}

round_trip! {
    // NameServer
    PutKvConfigRequestHeader,
    GetKvConfigRequestHeader,
    GetKvConfigResponseHeader,
    DeleteKvConfigRequestHeader,
    GetKvListByNamespaceRequestHeader,
    RegisterBrokerRequestHeader,
    RegisterBrokerResponseHeader,
    UnregisterBrokerRequestHeader,
    GetRouteInfoRequestHeader + rpc,
    WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
    AddWritePermOfBrokerRequestHeader,
    AddWritePermOfBrokerResponseHeader,
    DeleteTopicFromNamesrvRequestHeader + rpc,
    RegisterTopicRequestHeader + rpc,
    GetTopicsByClusterRequestHeader,
    QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader,
    BrokerHeartbeatRequestHeader,
    // Producer
    SendMessageRequestHeader + rpc,
    SendMessageRequestHeaderV2 + rpc,
    SendMessageResponseHeader,
    EndTransactionRequestHeader + rpc,
    // Consumer
    PullMessageRequestHeader + rpc,
    PullMessageResponseHeader,
    QueryConsumerOffsetRequestHeader + rpc,
    QueryConsumerOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader + rpc,
    SearchOffsetRequestHeader + rpc,
    SearchOffsetResponseHeader,
    GetMaxOffsetRequestHeader + rpc,
    GetMaxOffsetResponseHeader,
    GetMinOffsetRequestHeader + rpc,
    GetMinOffsetResponseHeader,
    GetEarliestMsgStoretimeRequestHeader + rpc,
    GetEarliestMsgStoretimeResponseHeader,
    UnregisterClientRequestHeader + rpc,
    ConsumerSendMsgBackRequestHeader + rpc,
    GetConsumerListByGroupRequestHeader + rpc,
    HeartbeatRequestHeader + rpc,
    // Pop
    PopMessageRequestHeader + rpc,
    PopMessageResponseHeader,
    AckMessageRequestHeader + rpc,
    ChangeInvisibleTimeRequestHeader + rpc,
    ChangeInvisibleTimeResponseHeader,
    PeekMessageRequestHeader + rpc,
    NotificationRequestHeader + rpc,
    NotificationResponseHeader,
    PollingInfoRequestHeader + rpc,
    PollingInfoResponseHeader,
    // Query
    QueryMessageRequestHeader + rpc,
    QueryMessageResponseHeader,
    ViewMessageRequestHeader,
    // Broker -> client
    CheckTransactionStateRequestHeader + rpc,
    NotifyConsumerIdsChangedRequestHeader + rpc,
    ResetOffsetRequestHeader + rpc,
    GetConsumerStatusRequestHeader + rpc,
    GetConsumerRunningInfoRequestHeader + rpc,
    ConsumeMessageDirectlyResultRequestHeader + rpc,
    ReplyMessageRequestHeader + rpc,
    // Admin
    CreateTopicRequestHeader + rpc,
    DeleteTopicRequestHeader + rpc,
    GetAllTopicConfigRequestHeader,
    GetAllTopicConfigResponseHeader,
    GetAllSubscriptionGroupRequestHeader,
    GetAllSubscriptionGroupResponseHeader,
    GetBrokerConfigResponseHeader,
    DeleteSubscriptionGroupRequestHeader + rpc,
    GetTopicStatsInfoRequestHeader + rpc,
    GetConsumerConnectionListRequestHeader + rpc,
    GetProducerConnectionListRequestHeader + rpc,
    GetConsumeStatsRequestHeader + rpc,
    QueryTopicConsumeByWhoRequestHeader + rpc,
    QueryTopicsByConsumerRequestHeader + rpc,
}

#[test]
fn namesrv_keys_match_the_table() {
    let e = {
        let mut e = ExtFields::new();
        RegisterBrokerRequestHeader::default().write_to(&mut e);
        e
    };
    let got: BTreeSet<&str> = e.keys().map(|k| k.as_ref()).collect();
    let want: BTreeSet<&str> = [
        "brokerName",
        "brokerAddr",
        "clusterName",
        "haServerAddr",
        "brokerId",
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
    assert_eq!(
        BrokerHeartbeatRequestHeader::WIRE_KEYS,
        &[
            "clusterName",
            "brokerAddr",
            "brokerName",
            "brokerId",
            "epoch",
            "maxOffset",
            "confirmOffset",
            "heartbeatTimeoutMills",
            "electionPriority",
        ]
    );
}
