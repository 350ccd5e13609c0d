//! GET_CONSUMER_RUNNING_INFO and CONSUME_MESSAGE_DIRECTLY are forwarded to the named consumer and
//! answered with its response.

mod badmin_support;

use badmin_support::*;
use sluice_remoting::header::{
    ConsumeMessageDirectlyResultRequestHeader, GetConsumerRunningInfoRequestHeader,
};
use sluice_remoting::message::msgid::create_offset_msg_id;
use sluice_remoting::message::{check_record, RecordCheck};
use sluice_remoting::net::{Channel, ClientConfig, ProcessorTable, RemotingClient};
use sluice_remoting::{RemotingCommand, RequestCode, ResponseCode};

/// A consumer that answers both forwarded requests itself.
fn consumer() -> RemotingClient {
    let table = ProcessorTable::new()
        .with(
            RequestCode::GetConsumerRunningInfo,
            |_c: Channel, req: RemotingCommand| async move {
                assert_eq!(req.ext("clientId"), Some("127.0.0.1@run1"));
                Some(
                    RemotingCommand::response_to(&req, ResponseCode::Success).with_body(
                        br#"{"properties":{"consumeType":"CONSUME_PASSIVELY"}}"#.to_vec(),
                    ),
                )
            },
        )
        .with(
            RequestCode::ConsumeMessageDirectly,
            |_c: Channel, req: RemotingCommand| async move {
                let body = req.body.to_bytes();
                let topic = match check_record(&body, true) {
                    RecordCheck::Message(view) => view.topic().to_string(),
                    _ => "not a record".to_string(),
                };
                Some(
                    RemotingCommand::response_to(&req, ResponseCode::Success).with_body(
                        format!(
                            r#"{{"consumeResult":"CR_SUCCESS","remark":"{topic} via {}"}}"#,
                            req.ext("brokerName").unwrap_or("?")
                        )
                        .into_bytes(),
                    ),
                )
            },
        )
        .with(
            RequestCode::NotifyConsumerIdsChanged,
            |_c: Channel, _r: RemotingCommand| async move { None },
        );
    RemotingClient::new(ClientConfig::default(), table)
}

fn running_info(client_id: &str) -> RemotingCommand {
    RemotingCommand::request(RequestCode::GetConsumerRunningInfo).with_header(
        &GetConsumerRunningInfoRequestHeader {
            consumer_group: "RunG".into(),
            client_id: client_id.into(),
            jstack_enable: Some(false),
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn requests_reach_the_named_consumer_and_its_answer_comes_back() {
    let tb = start_broker().await;
    let (c, admin) = (consumer(), client());
    let hb = r#"{"clientID":"127.0.0.1@run1","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"RunG","messageModel":"CLUSTERING","subscriptionDataSet":[{"subString":"*","subVersion":1,"topic":"RunT"}]}],"producerDataSet":[]}"#;
    let r = call(
        &c,
        &tb.addr,
        RemotingCommand::request(RequestCode::HeartBeat).with_body(hb.as_bytes().to_vec()),
    )
    .await;
    assert_eq!(r.code, 0);

    let r = call(&admin, &tb.addr, running_info("127.0.0.1@run1")).await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    assert_eq!(
        body_text(&r),
        r#"{"properties":{"consumeType":"CONSUME_PASSIVELY"}}"#
    );

    let r = call(&admin, &tb.addr, running_info("127.0.0.1@gone")).await;
    assert_eq!(r.code, ResponseCode::SystemError.as_i32());
    assert_eq!(
        r.remark.as_deref(),
        Some("The Consumer <RunG> <127.0.0.1@gone> not online")
    );

    put_messages(&tb, "RunT", 0, 1).await;
    // The first record of the CommitLog is at physical offset 0.
    let msg_id = create_offset_msg_id(tb.addr.parse().unwrap(), 0);
    let r = call(
        &admin,
        &tb.addr,
        RemotingCommand::request(RequestCode::ConsumeMessageDirectly).with_header(
            &ConsumeMessageDirectlyResultRequestHeader {
                consumer_group: "RunG".into(),
                client_id: Some("127.0.0.1@run1".into()),
                msg_id: Some(msg_id),
                topic: Some("RunT".into()),
                ..Default::default()
            },
        ),
    )
    .await;
    assert_eq!(r.code, 0, "{:?}", r.remark);
    assert_eq!(
        body_text(&r),
        r#"{"consumeResult":"CR_SUCCESS","remark":"RunT via broker-a"}"#
    );
    tb.broker.shutdown().await.unwrap();
}
