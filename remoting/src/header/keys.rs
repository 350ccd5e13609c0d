//! The header keys the code knows, so decoded headers can use `'static` names instead of
//! allocating a `String` per key (see [`crate::ExtFields`]).

use std::borrow::Cow;

/// Every wire key declared by the typed headers (`command_header!` literals and the RPC base
/// fields), sorted (so duplicates show). A test checks the header sources against it.
const KNOWN: &[&str] = &[
    "MSG_REGION",
    "TRACE_ON",
    "a",
    "acceptStandardJsonOnly",
    "addTopicCount",
    "attemptId",
    "attributes",
    "b",
    "batch",
    "batchUniqId",
    "beginTimestamp",
    "bname",
    "bodyCrc32",
    "bornHost",
    "bornTime",
    "bornTimestamp",
    "boundaryType",
    "brokerAddr",
    "brokerAddress",
    "brokerId",
    "brokerName",
    "c",
    "changed",
    "cleanOffset",
    "clientAddr",
    "clientID",
    "clientId",
    "cluster",
    "clusterName",
    "commitLogOffset",
    "commitOffset",
    "commitOrRollback",
    "committed",
    "compressed",
    "confirmOffset",
    "consumerGroup",
    "d",
    "dataVersion",
    "defaultTopic",
    "defaultTopicQueueNums",
    "delayLevel",
    "designateElect",
    "e",
    "electionPriority",
    "enableActingMaster",
    "endTimestamp",
    "epoch",
    "exp",
    "expType",
    "expressionType",
    "extraInfo",
    "f",
    "flag",
    "forbiddenType",
    "force",
    "fromTransactionCheck",
    "g",
    "group",
    "groupName",
    "groupSeq",
    "groupSysFlag",
    "h",
    "haServerAddr",
    "hasMsg",
    "heartbeatTimeoutMillis",
    "heartbeatTimeoutMills",
    "i",
    "indexLastUpdatePhyoffset",
    "indexLastUpdateTimestamp",
    "initMode",
    "invisibleTime",
    "invokeTime",
    "isForce",
    "j",
    "jstackEnable",
    "k",
    "key",
    "l",
    "lo",
    "m",
    "masterAddr",
    "masterAddress",
    "masterBrokerId",
    "masterEpoch",
    "maxGroupNum",
    "maxMsgBytes",
    "maxMsgNums",
    "maxNum",
    "maxOffset",
    "maxReconsumeTimes",
    "maxTopicNum",
    "minOffset",
    "msgId",
    "msgOffsetInfo",
    "n",
    "namespace",
    "newSyncStateSetEpoch",
    "nextBeginOffset",
    "ns",
    "nsd",
    "offset",
    "offsetDelta",
    "offsetMsgId",
    "order",
    "orderCountInfo",
    "originMsgId",
    "originTopic",
    "oway",
    "perm",
    "pollTime",
    "pollingFull",
    "pollingNum",
    "popTime",
    "producerGroup",
    "properties",
    "proxyFrowardClientId",
    "queueId",
    "queueOffset",
    "readQueueNums",
    "recallHandle",
    "reconsumeTimes",
    "removeOffset",
    "requestSource",
    "restNum",
    "reviveQid",
    "setZeroIfNotFound",
    "startOffsetInfo",
    "storeHost",
    "storeTimestamp",
    "subVersion",
    "subscription",
    "suggestWhichBrokerId",
    "suspendTimeoutMillis",
    "syncStateSetEpoch",
    "sysFlag",
    "timestamp",
    "topic",
    "topicFilterType",
    "topicList",
    "topicSeq",
    "topicSysFlag",
    "totalGroupNum",
    "totalTopicNum",
    "tranStateTableOffset",
    "transactionId",
    "unitMode",
    "value",
    "version",
    "wipeTopicCount",
    "writeQueueNums",
];

/// Open-addressing table over [`KNOWN`]: a lookup is one short hash and usually one compare (a
/// binary search cost ~50 ns per key, more than the allocation it saves).
const SLOTS: usize = 1024;

fn slot_of(key: &[u8]) -> usize {
    // FNV-1a: good enough spread for a few hundred short ASCII names.
    let mut h: u32 = 0x811c_9dc5;
    for &b in key {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h as usize % SLOTS
}

fn table() -> &'static [Option<&'static str>; SLOTS] {
    static TABLE: std::sync::OnceLock<[Option<&'static str>; SLOTS]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [None; SLOTS];
        for &key in KNOWN {
            let mut i = slot_of(key.as_bytes());
            while table[i].is_some() {
                i = (i + 1) % SLOTS;
            }
            table[i] = Some(key);
        }
        table
    })
}

/// `key` as a `'static` name when it is a known header key, owned otherwise.
pub fn intern(key: Cow<'_, str>) -> Cow<'static, str> {
    let table = table();
    let mut i = slot_of(key.as_bytes());
    while let Some(known) = table[i] {
        if known == key.as_ref() {
            return Cow::Borrowed(known);
        }
        i = (i + 1) % SLOTS;
    }
    Cow::Owned(key.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_are_sorted_and_interned() {
        assert!(KNOWN.windows(2).all(|w| w[0] < w[1]));
        assert!(matches!(
            intern(Cow::Owned("queueId".into())),
            Cow::Borrowed("queueId")
        ));
        assert!(matches!(intern(Cow::Borrowed("customKey")), Cow::Owned(k) if k == "customKey"));
        for &key in KNOWN {
            assert!(matches!(intern(Cow::Owned(key.to_string())), Cow::Borrowed(k) if k == key));
        }
    }

    /// Every `= "key"` literal of the header modules is known, so new headers stay allocation-free.
    #[test]
    fn every_declared_header_key_is_known() {
        let sources = [
            include_str!("admin.rs"),
            include_str!("broker_to_client.rs"),
            include_str!("consumer.rs"),
            include_str!("controller.rs"),
            include_str!("namesrv.rs"),
            include_str!("pop.rs"),
            include_str!("query.rs"),
            include_str!("send.rs"),
        ];
        for source in sources {
            for piece in source.split("= \"").skip(1) {
                let Some(end) = piece.find("\",") else {
                    continue;
                };
                let key = &piece[..end];
                if key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_#%-".contains(c))
                {
                    assert!(
                        KNOWN.binary_search(&key).is_ok(),
                        "header key {key} missing from KNOWN"
                    );
                }
            }
        }
    }
}
