//! Send processors over a real socket: V1, V2, batch, a C++-style raw V2 frame, and bad input.

mod bsend_common;

use bsend_common::*;
use bytes::{BufMut, BytesMut};
use sluice_remoting::codec::decode_frame;
use sluice_remoting::header::{
    SendMessageRequestHeaderV2, SendMessageResponseHeader, ViewMessageRequestHeader,
};
use sluice_remoting::message::batch::{encode_batch, BatchItem};
use sluice_remoting::message::msgid::decode_offset_msg_id;
use sluice_remoting::message::{decode_messages, property};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn assert_region_and_trace(response: &RemotingCommand) {
    assert_eq!(
        response.ext("MSG_REGION"),
        Some("DefaultRegion"),
        "{response:?}"
    );
    assert!(
        matches!(response.ext("TRACE_ON"), Some("true" | "false")),
        "{response:?}"
    );
}

/// Checks a successful single send and that VIEW_MESSAGE_BY_ID finds the stored message.
async fn assert_stored(b: &TestBroker, response: &RemotingCommand, topic: &str, body: &[u8]) {
    assert_eq!(response.code, 0, "{response:?}");
    assert_region_and_trace(response);
    let header: SendMessageResponseHeader = response.decode_header().expect("send header");
    assert_eq!(header.msg_id.len(), 32, "{}", header.msg_id);
    assert!(header
        .msg_id
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
    assert!(header
        .transaction_id
        .as_deref()
        .is_some_and(|t| !t.is_empty()));
    let (host, offset) = decode_offset_msg_id(&header.msg_id).expect("offset msgId decodes");
    assert_eq!(
        host.to_string(),
        b.addr,
        "the msgId names the broker's address"
    );
    let view = RemotingCommand::request(RequestCode::ViewMessageById).with_header(
        &ViewMessageRequestHeader {
            topic: None,
            offset,
        },
    );
    let viewed = b.invoke(view).await;
    assert_eq!(viewed.code, 0, "{viewed:?}");
    let msgs = decode_messages(&viewed.body.to_bytes(), true).expect("record decodes");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].topic(), topic);
    assert_eq!(&msgs[0].body()[..], body);
    assert_eq!(msgs[0].record.queue_id, header.queue_id);
    assert_eq!(msgs[0].record.queue_offset, header.queue_offset);
    assert_eq!(msgs[0].property(property::CLUSTER), Some("DefaultCluster"));
    assert_eq!(
        msgs[0].property(property::UNIQ_KEY),
        header.transaction_id.as_deref()
    );
}

#[tokio::test]
async fn send_v1_and_v2_store_and_answer_every_header_field() {
    let b = start_broker(|_| {}).await;
    let p = props(&[("TAGS", "TagA"), ("KEYS", "k1"), ("WAIT", "true")]);
    let r1 = b.invoke(send_v1("TopicSend", 1, &p, b"hello v1")).await;
    assert_stored(&b, &r1, "TopicSend", b"hello v1").await;
    let r2 = b.invoke(send_v2("TopicSend", 1, &p, b"hello v2")).await;
    assert_stored(&b, &r2, "TopicSend", b"hello v2").await;
    let h1: SendMessageResponseHeader = r1.decode_header().unwrap();
    let h2: SendMessageResponseHeader = r2.decode_header().unwrap();
    assert_eq!(h1.queue_id, 1);
    assert_eq!(h2.queue_offset, h1.queue_offset + 1);
    // A producer-chosen UNIQ_KEY is kept and returned as transactionId.
    let p = props(&[("UNIQ_KEY", "7F0000010001000000000000000A0001")]);
    let r3 = b.invoke(send_v2("TopicSend", -1, &p, b"picked")).await;
    assert_eq!(r3.code, 0, "{r3:?}");
    let h3: SendMessageResponseHeader = r3.decode_header().unwrap();
    assert_eq!(
        h3.transaction_id.as_deref(),
        Some("7F0000010001000000000000000A0001")
    );
    assert!(
        (0..4).contains(&h3.queue_id),
        "queueId -1 picks a write queue"
    );
    b.stop().await;
}

#[tokio::test]
async fn batch_send_returns_one_msg_id_per_message() {
    let b = start_broker(|_| {}).await;
    let items: Vec<BatchItem> = (0..3)
        .map(|i| BatchItem {
            flag: 0,
            body: bytes::Bytes::from(format!("batch-{i}")),
            properties: props(&[("KEYS", &format!("bk{i}")), ("UNIQ_KEY", &format!("U{i}"))]),
        })
        .collect();
    let mut header = send_header("TopicBatch", 0, &props(&[("WAIT", "true")]));
    header.batch = Some(true);
    let v2: SendMessageRequestHeaderV2 = header.into();
    let request = RemotingCommand::request(RequestCode::SendBatchMessage)
        .with_header(&v2)
        .with_body(encode_batch(&items));
    let response = b.invoke(request).await;
    assert_eq!(response.code, 0, "{response:?}");
    assert_region_and_trace(&response);
    let h: SendMessageResponseHeader = response.decode_header().unwrap();
    let ids: Vec<&str> = h.msg_id.split(',').collect();
    assert_eq!(ids.len(), 3, "{}", h.msg_id);
    assert_eq!(h.queue_offset, 0);
    for (i, id) in ids.iter().enumerate() {
        let (_, offset) = decode_offset_msg_id(id).unwrap();
        let viewed = b
            .invoke(
                RemotingCommand::request(RequestCode::ViewMessageById).with_header(
                    &ViewMessageRequestHeader {
                        topic: None,
                        offset,
                    },
                ),
            )
            .await;
        let msgs = decode_messages(&viewed.body.to_bytes(), true).unwrap();
        assert_eq!(&msgs[0].body()[..], format!("batch-{i}").as_bytes());
        assert_eq!(msgs[0].property("UNIQ_KEY"), Some(format!("U{i}").as_str()));
        assert_eq!(msgs[0].property("WAIT"), Some("true"));
        assert_eq!(msgs[0].record.queue_offset, i as i64);
    }
    b.stop().await;
}

/// Writes one raw frame with a JSON header text and returns the decoded response.
async fn raw_exchange(addr: &str, header_json: &str, body: &[u8]) -> RemotingCommand {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut frame = BytesMut::new();
    frame.put_i32((4 + header_json.len() + body.len()) as i32);
    frame.put_i32(header_json.len() as i32);
    frame.put_slice(header_json.as_bytes());
    frame.put_slice(body);
    stream.write_all(&frame).await.unwrap();
    let len = stream.read_i32().await.unwrap() as usize;
    let mut rest = vec![0u8; len];
    stream.read_exact(&mut rest).await.unwrap();
    decode_frame(bytes::Bytes::from(rest)).unwrap()
}

#[tokio::test]
async fn cpp_style_v2_header_with_numbers_and_no_broker_name_is_accepted() {
    let b = start_broker(|_| {}).await;
    // What the C++ client writes: numbers and booleans as JSON values, no `n`, a trailing newline.
    let header = concat!(
        r#"{"code":310,"extFields":{"a":"cpp_group","b":"TopicCpp","c":"TBW102","d":4,"e":2,"#,
        r#""f":0,"g":1700000000000,"h":0,"i":"TAGS\u0001cpp\u0002WAIT\u0001true\u0002","j":0,"k":false,"l":16,"m":false},"#,
        r#""flag":0,"language":"CPP","opaque":7,"remark":"","serializeTypeCurrentRPC":"JSON","version":333}"#,
        "\n"
    );
    let response = raw_exchange(&b.addr, header, b"from c++").await;
    assert_eq!(response.opaque, 7);
    assert_eq!(response.code, 0, "{response:?}");
    assert_region_and_trace(&response);
    let h: SendMessageResponseHeader = response.decode_header().unwrap();
    assert_eq!(h.queue_id, 2);
    assert_stored(&b, &response, "TopicCpp", b"from c++").await;
    b.stop().await;
}

#[tokio::test]
async fn body_over_max_message_size_is_message_illegal() {
    let b = start_broker(|c| c.store.max_message_size = 1024).await;
    let response = b.invoke(send_v2("TopicBig", 0, "", &[7u8; 1025])).await;
    assert_eq!(
        response.code,
        ResponseCode::MessageIllegal.as_i32(),
        "{response:?}"
    );
    assert!(
        response.remark.as_deref().unwrap_or("").contains("1024"),
        "{response:?}"
    );
    assert_region_and_trace(&response);
    let ok = b.invoke(send_v2("TopicBig", 0, "", &[7u8; 1024])).await;
    assert_eq!(ok.code, 0, "{ok:?}");
    b.stop().await;
}

#[tokio::test]
async fn unknown_topic_without_auto_create_is_topic_not_exist() {
    let b = start_broker(|c| c.auto_create_topic_enable = false).await;
    let response = b.invoke(send_v1("NoSuchTopic", 0, "", b"x")).await;
    assert_eq!(
        response.code,
        ResponseCode::TopicNotExist.as_i32(),
        "{response:?}"
    );
    assert!(response
        .remark
        .as_deref()
        .unwrap_or("")
        .contains("NoSuchTopic"));
    assert_region_and_trace(&response);
    b.stop().await;
}

#[tokio::test]
async fn illegal_topic_names_are_rejected_with_a_remark() {
    let b = start_broker(|_| {}).await;
    let long = "t".repeat(128);
    for topic in ["bad topic", "bad/topic", "", long.as_str()] {
        let response = b.invoke(send_v2(topic, 0, "", b"x")).await;
        assert_ne!(response.code, 0, "{topic:?} accepted");
        assert_eq!(
            response.code,
            ResponseCode::InvalidParameter.as_i32(),
            "{response:?}"
        );
        assert!(response.remark.as_deref().is_some_and(|r| !r.is_empty()));
        assert_region_and_trace(&response);
    }
    // System topics producers may not write to.
    let response = b.invoke(send_v2("SCHEDULE_TOPIC_XXXX", 0, "", b"x")).await;
    assert_eq!(
        response.code,
        ResponseCode::NoPermission.as_i32(),
        "{response:?}"
    );
    b.stop().await;
}

#[tokio::test]
async fn properties_over_32k_are_message_illegal() {
    let b = start_broker(|_| {}).await;
    let huge = "v".repeat(40_000);
    let p = props(&[("KEYS", &huge)]);
    let response = b.invoke(send_v1("TopicProps", 0, &p, b"x")).await;
    assert_eq!(
        response.code,
        ResponseCode::MessageIllegal.as_i32(),
        "{response:?}"
    );
    assert!(
        response.remark.as_deref().unwrap_or("").contains("32KB"),
        "{response:?}"
    );
    assert_region_and_trace(&response);
    b.stop().await;
}

#[tokio::test]
async fn queue_id_out_of_range_and_bad_header_are_refused() {
    let b = start_broker(|_| {}).await;
    let ok = b.invoke(send_v1("TopicQ", 0, "", b"x")).await;
    assert_eq!(ok.code, 0);
    let response = b.invoke(send_v1("TopicQ", 99, "", b"x")).await;
    assert_eq!(
        response.code,
        ResponseCode::InvalidParameter.as_i32(),
        "{response:?}"
    );
    assert!(response
        .remark
        .as_deref()
        .unwrap_or("")
        .contains("queueId[99]"));
    let mut bad = send_v1("TopicQ", 0, "", b"x");
    bad.ext_fields.insert("queueId".into(), "zero".into());
    let response = b.invoke(bad).await;
    assert_eq!(
        response.code,
        ResponseCode::SystemError.as_i32(),
        "{response:?}"
    );
    assert!(response.remark.as_deref().unwrap_or("").contains("queueId"));
    assert_region_and_trace(&response);
    b.stop().await;
}

#[tokio::test]
async fn delayed_message_is_stored_in_the_schedule_topic() {
    let b = start_broker(|_| {}).await;
    let p = props(&[("DELAY", "3")]);
    let response = b.invoke(send_v1("TopicDelay", 1, &p, b"later")).await;
    assert_eq!(response.code, 0, "{response:?}");
    let h: SendMessageResponseHeader = response.decode_header().unwrap();
    let (_, offset) = decode_offset_msg_id(&h.msg_id).unwrap();
    let viewed = b
        .invoke(
            RemotingCommand::request(RequestCode::ViewMessageById).with_header(
                &ViewMessageRequestHeader {
                    topic: None,
                    offset,
                },
            ),
        )
        .await;
    let msgs = decode_messages(&viewed.body.to_bytes(), true).unwrap();
    assert_eq!(msgs[0].topic(), "SCHEDULE_TOPIC_XXXX");
    assert_eq!(msgs[0].record.queue_id, 2);
    assert_eq!(msgs[0].property("REAL_TOPIC"), Some("TopicDelay"));
    assert_eq!(msgs[0].property("REAL_QID"), Some("1"));
    b.stop().await;
}

#[tokio::test]
async fn retry_message_past_max_reconsume_goes_to_the_dlq() {
    let b = start_broker(|_| {}).await;
    let mut header = send_header("%RETRY%G_DLQ", 0, "");
    header.reconsume_times = Some(3);
    header.max_reconsume_times = Some(3);
    let request = RemotingCommand::request(RequestCode::SendMessage)
        .with_header(&header)
        .with_body(b"dead".to_vec());
    let response = b.invoke(request).await;
    assert_eq!(response.code, 0, "{response:?}");
    let h: SendMessageResponseHeader = response.decode_header().unwrap();
    let (_, offset) = decode_offset_msg_id(&h.msg_id).unwrap();
    let viewed = b
        .invoke(
            RemotingCommand::request(RequestCode::ViewMessageById).with_header(
                &ViewMessageRequestHeader {
                    topic: None,
                    offset,
                },
            ),
        )
        .await;
    let msgs = decode_messages(&viewed.body.to_bytes(), true).unwrap();
    assert_eq!(msgs[0].topic(), "%DLQ%G_DLQ");
    assert_eq!(msgs[0].record.queue_id, 0);
    b.stop().await;
}

#[tokio::test]
async fn view_of_a_missing_offset_is_system_error() {
    let b = start_broker(|_| {}).await;
    let viewed = b
        .invoke(
            RemotingCommand::request(RequestCode::ViewMessageById).with_header(
                &ViewMessageRequestHeader {
                    topic: None,
                    offset: 123_456_789,
                },
            ),
        )
        .await;
    assert_eq!(
        viewed.code,
        ResponseCode::SystemError.as_i32(),
        "{viewed:?}"
    );
    assert!(viewed.remark.as_deref().unwrap_or("").contains("123456789"));
    b.stop().await;
}

#[tokio::test]
async fn transactional_half_message_goes_to_the_half_topic() {
    let b = start_broker(|_| {}).await;
    let mut header = send_header(
        "TopicTx",
        1,
        &props(&[("TRAN_MSG", "true"), ("PGROUP", "PG_TEST")]),
    );
    header.sys_flag = 0x4; // PREPARED
    let request = RemotingCommand::request(RequestCode::SendMessage)
        .with_header(&header)
        .with_body(b"half".to_vec());
    let response = b.invoke(request).await;
    assert_eq!(response.code, 0, "{response:?}");
    let h: SendMessageResponseHeader = response.decode_header().unwrap();
    let (_, offset) = decode_offset_msg_id(&h.msg_id).unwrap();
    let viewed = b
        .invoke(
            RemotingCommand::request(RequestCode::ViewMessageById).with_header(
                &ViewMessageRequestHeader {
                    topic: None,
                    offset,
                },
            ),
        )
        .await;
    let msgs = decode_messages(&viewed.body.to_bytes(), true).unwrap();
    assert_eq!(msgs[0].topic(), "RMQ_SYS_TRANS_HALF_TOPIC");
    assert_eq!(msgs[0].record.queue_id, 0);
    assert_eq!(msgs[0].record.sysflag & 0xC, 0);
    assert_eq!(msgs[0].property("REAL_TOPIC"), Some("TopicTx"));
    assert_eq!(msgs[0].property("REAL_QID"), Some("1"));
    b.stop().await;

    let b = start_broker(|c| c.reject_transaction_message = true).await;
    let request = RemotingCommand::request(RequestCode::SendMessage)
        .with_header(&header)
        .with_body(b"half".to_vec());
    let response = b.invoke(request).await;
    assert_eq!(
        response.code,
        ResponseCode::NoPermission.as_i32(),
        "{response:?}"
    );
    assert_region_and_trace(&response);
    b.stop().await;
}

#[tokio::test]
async fn auto_created_topic_takes_the_producer_queue_count_and_sends_are_counted() {
    let b = start_broker(|_| {}).await;
    let state = b.broker.state().clone();
    assert!(state.topics.get("TopicAuto").is_none());
    let response = b.invoke(send_v2("TopicAuto", 0, "", b"12345")).await;
    assert_eq!(response.code, 0, "{response:?}");
    let created = state.topics.get("TopicAuto").expect("created on send");
    // min(producer's defaultTopicQueueNums 4, TBW102's 8), permission without INHERIT.
    assert_eq!(created.write_queue_nums, 4);
    assert_eq!(created.read_queue_nums, 4);
    assert_eq!(created.perm, 6);
    b.invoke(send_v2("TopicAuto", 1, "", b"678")).await;
    let counters = state.metrics.topics.get("TopicAuto").expect("counted");
    use std::sync::atomic::Ordering;
    assert_eq!(counters.messages_in.load(Ordering::Relaxed), 2);
    assert_eq!(counters.bytes_in.load(Ordering::Relaxed), 8);
    drop(counters);
    // A unit-mode producer's new topic is a unit topic (TopicSysFlag bit 0).
    let mut header = send_header("TopicUnit", 0, "");
    header.unit_mode = Some(true);
    let request = RemotingCommand::request(RequestCode::SendMessage)
        .with_header(&header)
        .with_body(b"u".to_vec());
    assert_eq!(b.invoke(request).await.code, 0);
    assert_eq!(state.topics.get("TopicUnit").unwrap().topic_sys_flag, 1);
    b.stop().await;
}

#[tokio::test]
async fn multi_tag_topic_sets_the_multi_tags_sysflag() {
    use sluice_remoting::body::{TopicConfig, TopicFilterType};
    let b = start_broker(|_| {}).await;
    b.broker
        .state()
        .topics
        .update(TopicConfig {
            topic_filter_type: TopicFilterType::MultiTag,
            read_queue_nums: 2,
            write_queue_nums: 2,
            ..TopicConfig::new("TopicMulti")
        })
        .expect("topic created");
    let response = b.invoke(send_v1("TopicMulti", 0, "", b"x")).await;
    assert_eq!(response.code, 0, "{response:?}");
    let h: SendMessageResponseHeader = response.decode_header().unwrap();
    let (_, offset) = decode_offset_msg_id(&h.msg_id).unwrap();
    let viewed = b
        .invoke(
            RemotingCommand::request(RequestCode::ViewMessageById).with_header(
                &ViewMessageRequestHeader {
                    topic: None,
                    offset,
                },
            ),
        )
        .await;
    let msgs = decode_messages(&viewed.body.to_bytes(), true).unwrap();
    assert_eq!(msgs[0].record.sysflag & 0x2, 0x2);
    b.stop().await;
}

#[tokio::test]
async fn reply_messages_are_stored_like_sends() {
    let b = start_broker(|_| {}).await;
    let p = props(&[("MSG_TYPE", "reply"), ("CORRELATION_ID", "c-1")]);
    let mut v1 = send_v1("TopicReply", 0, &p, b"reply v1");
    v1.code = RequestCode::SendReplyMessage.as_i32();
    let r1 = b.invoke(v1).await;
    assert_stored(&b, &r1, "TopicReply", b"reply v1").await;
    let mut v2 = send_v2("TopicReply", 0, &p, b"reply v2");
    v2.code = RequestCode::SendReplyMessageV2.as_i32();
    let r2 = b.invoke(v2).await;
    assert_stored(&b, &r2, "TopicReply", b"reply v2").await;
    b.stop().await;
}
