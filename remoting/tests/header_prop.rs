//! Randomized header tests. Each run prints its seed; replay with `PROPTEST_RNG_SEED=<seed>`.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use sluice_remoting::header::{
    CommandHeader, PullMessageRequestHeader, RpcFields, SendMessageRequestHeader,
    SendMessageRequestHeaderV2,
};
use sluice_remoting::{ExtFields, RemotingError};

fn config() -> Config {
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0)
        });
    eprintln!("header_prop seed = {seed} (replay with PROPTEST_RNG_SEED={seed})");
    Config {
        rng_seed: RngSeed::Fixed(seed),
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    }
}

prop_compose! {
    fn send_v1()(
        producer_group in ".{0,20}",
        topic in "[A-Za-z0-9_%-]{1,30}",
        default_topic in ".{0,10}",
        nums in any::<(i32, i32, i32, i32)>(),
        born_timestamp in any::<i64>(),
        properties in proptest::option::of(".{0,40}"),
        reconsume_times in proptest::option::of(any::<i32>()),
        unit_mode in proptest::option::of(any::<bool>()),
        batch in proptest::option::of(any::<bool>()),
        max_reconsume_times in proptest::option::of(any::<i32>()),
        broker_name in proptest::option::of("[a-z-]{1,12}"),
        namespace in proptest::option::of(".{0,8}"),
    ) -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group,
            topic,
            default_topic,
            default_topic_queue_nums: nums.0,
            queue_id: nums.1,
            sys_flag: nums.2,
            born_timestamp,
            flag: nums.3,
            properties,
            reconsume_times,
            unit_mode,
            batch,
            max_reconsume_times,
            rpc: RpcFields { broker_name, namespace, ..Default::default() },
        }
    }
}

/// Keys a send or pull header knows, plus some it does not, to build arbitrary maps from.
const KEY_POOL: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "e",
    "f",
    "g",
    "h",
    "i",
    "j",
    "k",
    "l",
    "m",
    "n",
    "bname",
    "nsd",
    "producerGroup",
    "topic",
    "defaultTopic",
    "defaultTopicQueueNums",
    "queueId",
    "sysFlag",
    "bornTimestamp",
    "flag",
    "consumerGroup",
    "queueOffset",
    "maxMsgNums",
    "commitOffset",
    "suspendTimeoutMillis",
    "subVersion",
    "AccessKey",
    "x",
];

fn any_ext() -> impl Strategy<Value = ExtFields> {
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<i32>().prop_map(|n| n.to_string()),
        Just("true".to_string()),
        ".{0,6}",
    ];
    proptest::collection::btree_map(
        proptest::sample::select(KEY_POOL).prop_map(|k| k.to_string().into()),
        value,
        0..KEY_POOL.len(),
    )
}

fn only_field_errors<H: CommandHeader>(ext: &ExtFields) -> Result<(), TestCaseError> {
    match H::read_from(ext) {
        Ok(_) => Ok(()),
        Err(RemotingError::HeaderField { field, .. }) => {
            prop_assert!(KEY_POOL.contains(&field), "error names unknown key {field}");
            Ok(())
        }
        Err(other) => Err(TestCaseError::fail(format!("unexpected error {other:?}"))),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn send_headers_round_trip_through_both_encodings(v1 in send_v1()) {
        let mut e1 = ExtFields::new();
        v1.write_to(&mut e1);
        prop_assert_eq!(&SendMessageRequestHeader::read_from(&e1).unwrap(), &v1);

        let mut e2 = ExtFields::new();
        SendMessageRequestHeaderV2::from(v1.clone()).write_to(&mut e2);
        let back = SendMessageRequestHeader::from(SendMessageRequestHeaderV2::read_from(&e2).unwrap());
        prop_assert_eq!(back, v1);
    }

    #[test]
    fn arbitrary_maps_decode_or_name_a_field(ext in any_ext()) {
        only_field_errors::<SendMessageRequestHeader>(&ext)?;
        only_field_errors::<SendMessageRequestHeaderV2>(&ext)?;
        only_field_errors::<PullMessageRequestHeader>(&ext)?;
    }
}
