//! Rough request rates of the client-management and offset paths over loopback (prints numbers;
//! asserts only correctness). Run with `cargo test -p sluice-broker --test badmin_throughput -- --ignored --nocapture`.

mod badmin_support;

use std::time::Instant;

use badmin_support::*;
use sluice_remoting::header::{
    QueryConsumerOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
};
use sluice_remoting::{RemotingCommand, RequestCode};

const CLIENTS: usize = 4;
const PER_CLIENT: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints request rates; run by hand"]
async fn heartbeat_and_offset_request_rates() {
    let tb = start_broker().await;
    let addr = tb.addr.clone();
    let setup = client();
    let r = call(
        &setup,
        &addr,
        RemotingCommand::request(RequestCode::UpdateAndCreateSubscriptiongroup)
            .with_body(br#"{"groupName":"RateG"}"#.to_vec()),
    )
    .await;
    assert_eq!(r.code, 0);
    tb.broker
        .state()
        .topics
        .create_retry_topic("RateT", 1)
        .unwrap();
    let topic = "%RETRY%RateT";

    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let c = client();
            let body = format!(
                r#"{{"clientID":"127.0.0.1@rate{i}","consumerDataSet":[{{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"RateG","messageModel":"CLUSTERING","subscriptionDataSet":[{{"subString":"TagA || TagB","tagsSet":["TagA","TagB"],"subVersion":1,"topic":"RateT"}}]}}],"producerDataSet":[{{"groupName":"RateP"}}]}}"#
            );
            for _ in 0..PER_CLIENT {
                let r = call(&c, &addr, RemotingCommand::request(RequestCode::HeartBeat).with_body(body.clone().into_bytes())).await;
                assert_eq!(r.code, 0);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let hb = (CLIENTS * PER_CLIENT) as f64 / start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let addr = addr.clone();
        tasks.push(tokio::spawn(async move {
            let c = client();
            for n in 0..PER_CLIENT {
                let update = RemotingCommand::request(RequestCode::UpdateConsumerOffset)
                    .with_header(&UpdateConsumerOffsetRequestHeader {
                        consumer_group: "RateG".into(),
                        topic: topic.into(),
                        queue_id: 0,
                        commit_offset: (i * PER_CLIENT + n) as i64,
                        ..Default::default()
                    });
                assert_eq!(call(&c, &addr, update).await.code, 0);
                let query = RemotingCommand::request(RequestCode::QueryConsumerOffset).with_header(
                    &QueryConsumerOffsetRequestHeader {
                        consumer_group: "RateG".into(),
                        topic: topic.into(),
                        queue_id: 0,
                        ..Default::default()
                    },
                );
                assert_eq!(call(&c, &addr, query).await.code, 0);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let offsets = (2 * CLIENTS * PER_CLIENT) as f64 / start.elapsed().as_secs_f64();
    println!(
        "{CLIENTS} connections, {PER_CLIENT} each: HEART_BEAT {hb:.0}/s, UPDATE+QUERY_CONSUMER_OFFSET {offsets:.0} requests/s"
    );
    tb.broker.shutdown().await.unwrap();
}
