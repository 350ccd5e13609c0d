#![no_main]
// Fuzz target "body": the lenient fastjson reader and every JSON body decoder. None may panic,
// and whatever the reader accepts must be strict JSON that serde_json reads.
use libfuzzer_sys::fuzz_target;
use sluice_remoting::body::config_files::{ConsumerOffsetFile, DelayOffsetFile};
use sluice_remoting::body::*;
use sluice_remoting::code::version;
use sluice_remoting::json;

fuzz_target!(|data: &[u8]| {
    if let Ok(strict) = json::reader::to_strict(data) {
        // The rewrite only produces JSON text; serde_json may still refuse bad escapes or
        // numbers it copied through, but must not panic.
        let _ = serde_json::from_slice::<serde_json::Value>(&strict);
    }
    let _ = json::from_slice::<serde_json::Value>(data);
    let _ = TopicRouteData::decode(data);
    let _ = ClusterInfo::decode(data);
    let _ = HeartbeatData::decode(data);
    let _ = RegisterBrokerBody::decode(data);
    let _ = RegisterBrokerBody::decode_compressed(data, version::V5_3_3);
    let _ = TopicConfigSerializeWrapper::decode(data);
    let _ = LockBatchRequestBody::decode(data);
    let _ = ConsumerConnection::decode(data);
    let _ = ConsumeStats::decode(data);
    let _ = TopicStatsTable::decode(data);
    let _ = ResetOffsetBody::decode(data);
    let _ = ResetOffsetBodyForC::decode(data);
    let _ = SubscriptionGroupWrapper::decode(data);
    let _ = ConsumerOffsetFile::decode(data);
    let _ = DelayOffsetFile::decode(data);
    let _ = ConsumerRunningInfo::decode(data);
    let _ = HARuntimeInfo::decode(data);
    let _ = Properties::decode(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = TopicConfig::decode_text(text);
    }
});
