//! Client <-> server over real loopback sockets: correlation, oneway, timeouts, server-initiated
//! requests, unknown codes, reconnect and graceful shutdown.

mod net_common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use futures::FutureExt;
use net_common::*;
use sluice_remoting::command::{FLAG_ONEWAY, FLAG_RESPONSE};
use sluice_remoting::net::{
    Channel, ClientConfig, ProcessorTable, RemotingClient, RequestProcessor,
};
use sluice_remoting::{LanguageCode, RemotingCommand, RemotingError, ResponseCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

const NEVER_ANSWERS: i32 = 1001;
const SLOW: i32 = 1002;
const ASK_CLIENT: i32 = 1003;
const CLIENT_SIDE: i32 = 2000;

fn client() -> RemotingClient {
    RemotingClient::new(ClientConfig::default(), ProcessorTable::new())
}

#[tokio::test]
async fn request_gets_its_response() {
    let server = start(local_config(), echo_table()).await;
    let addr = server.local_addr().to_string();
    let client = client();
    let response = client
        .invoke(&addr, echo_request("hello"), RPC_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response.code, ResponseCode::Success.as_i32());
    assert!(response.is_response());
    assert_eq!(response.ext("k"), Some("v"));
    assert_eq!(response.body.to_bytes(), Bytes::from("hello"));
    assert_eq!(response.language, LanguageCode::Java);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_requests_on_one_connection_are_matched() {
    let server = start(local_config(), echo_table()).await;
    let addr = server.local_addr().to_string();
    let client = client();
    // Separate tasks, so that on this multi-threaded runtime they really race each other.
    let calls: Vec<_> = (0..1000)
        .map(|i| {
            let client = client.clone();
            let addr = addr.clone();
            tokio::spawn(async move {
                let body = format!("request-{i}");
                let response = client
                    .invoke(&addr, echo_request(body.clone()), RPC_TIMEOUT)
                    .await
                    .unwrap();
                assert_eq!(response.body.to_bytes(), Bytes::from(body), "request {i}");
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    assert_eq!(
        server.stats().connections_accepted.load(Ordering::Relaxed),
        1,
        "all requests share one connection"
    );
}

#[tokio::test]
async fn oneway_request_is_processed_and_never_answered() {
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel();
    let table = echo_table().with(
        NEVER_ANSWERS,
        move |_channel: Channel, request: RemotingCommand| {
            let seen = seen_tx.clone();
            async move {
                let _ = seen.send(request.body.to_bytes());
                // Even a returned response must not be sent for a oneway request.
                Some(RemotingCommand::response_to(
                    &request,
                    ResponseCode::Success,
                ))
            }
        },
    );
    let server = start(local_config(), table).await;

    // Through the client API.
    let client = client();
    client
        .invoke_oneway(
            &server.local_addr().to_string(),
            RemotingCommand::request(NEVER_ANSWERS).with_body(Bytes::from("fire")),
        )
        .await
        .unwrap();
    assert_eq!(seen_rx.recv().await.unwrap(), Bytes::from("fire"));

    // On the wire: the first frame back answers the request sent after the oneway.
    let mut raw = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut oneway = RemotingCommand::request(NEVER_ANSWERS).with_body(Bytes::from("raw"));
    oneway.flag = FLAG_ONEWAY;
    oneway.opaque = 7;
    let mut normal = echo_request("after");
    normal.opaque = 8;
    let mut bytes = frame(&oneway);
    bytes.extend_from_slice(&frame(&normal));
    raw.write_all(&bytes).await.unwrap();
    assert_eq!(seen_rx.recv().await.unwrap(), Bytes::from("raw"));
    let mut buf = BytesMut::new();
    let first = read_command(&mut raw, &mut buf).await.unwrap();
    assert_eq!(first.opaque, 8);
    assert_eq!(first.flag, FLAG_RESPONSE);
    assert_eq!(first.body.to_bytes(), Bytes::from("after"));
}

#[tokio::test]
async fn timeout_leaves_connection_usable_and_drops_the_late_answer() {
    let release = Arc::new(Notify::new());
    let released = release.clone();
    let table = echo_table()
        .with(NEVER_ANSWERS, |_c: Channel, _r: RemotingCommand| async {
            std::future::pending::<()>().await;
            None
        })
        .with(SLOW, move |_c: Channel, request: RemotingCommand| {
            let released = released.clone();
            async move {
                released.notified().await;
                Some(
                    RemotingCommand::response_to(&request, ResponseCode::Success)
                        .with_body(Bytes::from("late")),
                )
            }
        });
    let server = start(local_config(), table).await;
    let addr = server.local_addr().to_string();
    let client = client();

    let error = client
        .invoke(
            &addr,
            RemotingCommand::request(NEVER_ANSWERS),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, RemotingError::Timeout { .. }), "{error}");

    let error = client
        .invoke(
            &addr,
            RemotingCommand::request(SLOW),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, RemotingError::Timeout { .. }), "{error}");
    let channel = client.channel(&addr).await.unwrap();
    assert_eq!(
        channel.pending_requests(),
        0,
        "timed-out entries are removed"
    );
    release.notify_one();

    // The late answer to SLOW arrives on the same connection and must not be taken for this one.
    for i in 0..20 {
        let body = format!("after-timeout-{i}");
        let response = client
            .invoke(&addr, echo_request(body.clone()), RPC_TIMEOUT)
            .await
            .unwrap();
        assert_eq!(response.body.to_bytes(), Bytes::from(body));
    }
    assert!(!channel.is_closed());
    assert_eq!(
        server.stats().connections_accepted.load(Ordering::Relaxed),
        1
    );
}

/// A processor written as a struct, the way the broker writes them.
struct AskClientBack;

impl RequestProcessor for AskClientBack {
    fn process(
        &self,
        channel: Channel,
        request: RemotingCommand,
    ) -> BoxFuture<'static, Option<RemotingCommand>> {
        async move {
            let question = RemotingCommand::request(CLIENT_SIDE).with_body(Bytes::from("who?"));
            let answer = channel.send_request(question, RPC_TIMEOUT).await;
            let response = match answer {
                Ok(answer) => RemotingCommand::response_to(&request, ResponseCode::Success)
                    .with_ext("answerCode", answer.code.to_string())
                    .with_body(answer.body)
                    .with_ext(
                        "peerLanguage",
                        channel.peer().map_or("?", |p| p.language.name()),
                    ),
                Err(e) => RemotingCommand::response_to(&request, ResponseCode::SystemError)
                    .with_remark(e.to_string()),
            };
            Some(response)
        }
        .boxed()
    }
}

#[tokio::test]
async fn server_initiated_request_is_answered_by_the_client_processor() {
    let server = start(local_config(), echo_table().with(ASK_CLIENT, AskClientBack)).await;
    let client_table = ProcessorTable::new().with(
        CLIENT_SIDE,
        |_c: Channel, request: RemotingCommand| async move {
            assert_eq!(request.body.to_bytes(), Bytes::from("who?"));
            Some(
                RemotingCommand::response_to(&request, ResponseCode::Success)
                    .with_body(Bytes::from("a rust client")),
            )
        },
    );
    let client = RemotingClient::new(ClientConfig::default(), client_table);
    let mut ask = RemotingCommand::request(ASK_CLIENT);
    ask.language = LanguageCode::Go;
    let response = client
        .invoke(&server.local_addr().to_string(), ask, RPC_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response.code, 0, "{:?}", response.remark);
    assert_eq!(response.body.to_bytes(), Bytes::from("a rust client"));
    assert_eq!(response.ext("peerLanguage"), Some("GO"));
    assert_eq!(response.ext("answerCode"), Some("0"));
}

#[tokio::test]
async fn client_without_a_processor_answers_code_not_supported() {
    let server = start(local_config(), echo_table().with(ASK_CLIENT, AskClientBack)).await;
    let response = client()
        .invoke(
            &server.local_addr().to_string(),
            RemotingCommand::request(ASK_CLIENT),
            RPC_TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(response.code, 0, "{:?}", response.remark);
    assert_eq!(response.ext("answerCode"), Some("3"));
}

#[tokio::test]
async fn unknown_code_gets_request_code_not_supported_and_connection_stays() {
    let server = start(local_config(), echo_table()).await;
    let addr = server.local_addr().to_string();
    let client = client();
    let response = client
        .invoke(&addr, RemotingCommand::request(9999), RPC_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(
        response.code,
        ResponseCode::RequestCodeNotSupported.as_i32()
    );
    assert_eq!(
        response.remark.as_deref(),
        Some(" request type 9999 not supported")
    );
    let response = client
        .invoke(&addr, echo_request("still here"), RPC_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response.body.to_bytes(), Bytes::from("still here"));
    assert_eq!(
        server.stats().connections_accepted.load(Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn default_processor_takes_unregistered_codes() {
    let table = echo_table().with_default(|_c: Channel, request: RemotingCommand| async move {
        Some(
            RemotingCommand::response_to(&request, ResponseCode::Success)
                .with_remark(format!("default saw {}", request.code)),
        )
    });
    let server = start(local_config(), table).await;
    let response = client()
        .invoke(
            &server.local_addr().to_string(),
            RemotingCommand::request(4242),
            RPC_TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(response.remark.as_deref(), Some("default saw 4242"));
}

#[tokio::test]
async fn client_reconnects_after_server_restart() {
    let server = start(local_config(), echo_table()).await;
    let addr = server.local_addr();
    let client = client();
    client
        .invoke(&addr.to_string(), echo_request("one"), RPC_TIMEOUT)
        .await
        .unwrap();
    server.shutdown(Duration::from_secs(5)).await;
    drop(server);

    eventually("noticed the server went away", || {
        !client.is_connected(&addr.to_string())
    })
    .await;
    let error = client
        .invoke(&addr.to_string(), echo_request("down"), RPC_TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(error, RemotingError::Connection { .. }), "{error}");

    let mut config = local_config();
    config.bind_addr = addr;
    let restarted = start(config, echo_table()).await;
    let response = client
        .invoke(&addr.to_string(), echo_request("two"), RPC_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response.body.to_bytes(), Bytes::from("two"));
    assert_eq!(
        restarted
            .stats()
            .connections_accepted
            .load(Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests_and_refuses_new_ones() {
    let release = Arc::new(Notify::new());
    let released = release.clone();
    let table = echo_table().with(SLOW, move |_c: Channel, request: RemotingCommand| {
        let released = released.clone();
        async move {
            released.notified().await;
            Some(
                RemotingCommand::response_to(&request, ResponseCode::Success)
                    .with_body(Bytes::from("finished")),
            )
        }
    });
    let server = Arc::new(start(local_config(), table).await);
    let addr = server.local_addr().to_string();
    let client = client();

    let slow = tokio::spawn({
        let client = client.clone();
        let addr = addr.clone();
        async move {
            client
                .invoke(&addr, RemotingCommand::request(SLOW), RPC_TIMEOUT)
                .await
        }
    });
    eventually("started the slow request", || {
        server.in_flight_requests() == 1
    })
    .await;
    let shutdown = tokio::spawn({
        let server = server.clone();
        async move { server.shutdown(RPC_TIMEOUT).await }
    });

    // While draining, new requests on the open connection are refused, not dropped.
    loop {
        let response = client
            .invoke(&addr, echo_request("new"), RPC_TIMEOUT)
            .await
            .unwrap();
        if response.code == ResponseCode::SystemBusy.as_i32() {
            assert!(response.remark.unwrap().starts_with("[SHUTDOWN]"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    release.notify_one();
    let finished = slow.await.unwrap().unwrap();
    assert_eq!(finished.body.to_bytes(), Bytes::from("finished"));
    shutdown.await.unwrap();
    assert_eq!(server.active_connections(), 0);
    assert!(
        TcpStream::connect(server.local_addr()).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn connection_loss_fails_pending_requests_at_once() {
    let table = echo_table().with(NEVER_ANSWERS, |_c: Channel, _r: RemotingCommand| async {
        std::future::pending::<()>().await;
        None
    });
    let server = Arc::new(start(local_config(), table).await);
    let addr = server.local_addr().to_string();
    let client = client();
    let waiting: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            let addr = addr.clone();
            tokio::spawn(async move {
                client
                    .invoke(
                        &addr,
                        RemotingCommand::request(NEVER_ANSWERS),
                        Duration::from_secs(300),
                    )
                    .await
            })
        })
        .collect();
    eventually("all ten requests are being processed", || {
        server.in_flight_requests() == 10
    })
    .await;
    // Grace period over at once: connections are cut while the requests are still held.
    server.shutdown(Duration::ZERO).await;
    for handle in waiting {
        let error = handle.await.unwrap().unwrap_err();
        assert!(matches!(error, RemotingError::Connection { .. }), "{error}");
    }
}

#[tokio::test]
async fn server_channel_reports_when_the_client_goes_away() {
    let channels: Arc<Mutex<Vec<Channel>>> = Arc::default();
    let seen = channels.clone();
    let table = echo_table().with(SLOW, move |channel: Channel, request: RemotingCommand| {
        seen.lock().unwrap().push(channel);
        async move {
            Some(RemotingCommand::response_to(
                &request,
                ResponseCode::Success,
            ))
        }
    });
    let server = start(local_config(), table).await;
    let addr = server.local_addr().to_string();
    let client = client();
    client
        .invoke(&addr, RemotingCommand::request(SLOW), RPC_TIMEOUT)
        .await
        .unwrap();
    let channel = channels.lock().unwrap()[0].clone();
    assert!(!channel.is_closed());
    assert_eq!(channel.peer().unwrap().language, LanguageCode::Rust);
    assert_eq!(
        server.channel(channel.id()).unwrap().remote_addr(),
        channel.remote_addr()
    );

    let closed = Arc::new(AtomicUsize::new(0));
    let watcher = tokio::spawn({
        let closed = closed.clone();
        let on_close = channel.closed();
        async move {
            on_close.await;
            closed.fetch_add(1, Ordering::SeqCst);
        }
    });
    client.close(&addr);
    tokio::time::timeout(HANG_GUARD, watcher)
        .await
        .expect("hang guard: closed() never completed")
        .unwrap();
    assert!(channel.is_closed());
    assert_eq!(closed.load(Ordering::SeqCst), 1);
    eventually("the server forgot the connection", || {
        server.channel(channel.id()).is_none() && server.active_connections() == 0
    })
    .await;
}

#[tokio::test]
async fn multi_part_bodies_arrive_whole_and_in_order() {
    // Parts as a pull response carries them: several slices, some large (partial vectored writes).
    let parts: Vec<Bytes> = vec![
        Bytes::from(vec![1u8; 3 * 1024 * 1024]),
        Bytes::from_static(b"small"),
        Bytes::from(vec![2u8; 700 * 1024]),
        Bytes::from(vec![3u8; 17]),
    ];
    let expected: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let table = echo_table().with(SLOW, move |_c: Channel, request: RemotingCommand| {
        let parts = parts.clone();
        async move {
            Some(
                RemotingCommand::response_to(&request, ResponseCode::Success)
                    .with_body(sluice_remoting::Body::from_parts(parts)),
            )
        }
    });
    let server = start(local_config(), table).await;
    let addr = server.local_addr().to_string();
    let client = client();
    let calls = (0..4).map(|_| client.invoke(&addr, RemotingCommand::request(SLOW), RPC_TIMEOUT));
    for response in futures::future::join_all(calls).await {
        assert_eq!(
            response.unwrap().body.to_bytes(),
            Bytes::from(expected.clone())
        );
    }
}

#[tokio::test]
async fn binary_header_request_gets_a_json_header_response() {
    let server = start(local_config(), echo_table()).await;
    let mut raw = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut request = echo_request("bin");
    request.serialize_type = sluice_remoting::command::SerializeType::RocketMq;
    request.opaque = 41;
    let bytes = frame(&request);
    assert_eq!(bytes[4], 1, "the request really is binary");
    raw.write_all(&bytes).await.unwrap();
    let mut buf = BytesMut::new();
    use tokio::io::AsyncReadExt;
    while buf.len() < 8 {
        assert!(raw.read_buf(&mut buf).await.unwrap() > 0);
    }
    assert_eq!(buf[4], 0, "responses always use JSON headers");
    let response = read_command(&mut raw, &mut buf).await.unwrap();
    assert_eq!(response.opaque, 41);
    assert_eq!(response.body.to_bytes(), Bytes::from("bin"));
}

#[tokio::test]
async fn too_many_pending_requests_fail_with_busy() {
    let table = echo_table().with(NEVER_ANSWERS, |_c: Channel, _r: RemotingCommand| async {
        std::future::pending::<()>().await;
        None
    });
    let server = start(local_config(), table).await;
    let addr = server.local_addr().to_string();
    let config = ClientConfig {
        max_pending_per_connection: 2,
        ..ClientConfig::default()
    };
    let client = RemotingClient::new(config, ProcessorTable::new());
    let held: Vec<_> = (0..2)
        .map(|_| {
            let client = client.clone();
            let addr = addr.clone();
            tokio::spawn(async move {
                client
                    .invoke(&addr, RemotingCommand::request(NEVER_ANSWERS), RPC_TIMEOUT)
                    .await
            })
        })
        .collect();
    eventually("two requests are held", || server.in_flight_requests() == 2).await;
    let error = client
        .invoke(&addr, echo_request("third"), RPC_TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(error, RemotingError::Busy(_)), "{error}");
    for handle in held {
        handle.abort();
    }
    // Cancelled callers free their slots.
    let channel = client.channel(&addr).await.unwrap();
    eventually("the aborted requests are forgotten", || {
        channel.pending_requests() == 0
    })
    .await;
    let response = client
        .invoke(&addr, echo_request("fourth"), RPC_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response.body.to_bytes(), Bytes::from("fourth"));
}

#[tokio::test]
async fn processor_answering_later_through_the_channel() {
    let table = echo_table().with(
        SLOW,
        |channel: Channel, request: RemotingCommand| async move {
            // Answer from another task after returning None, as a held pull does.
            let opaque = request.opaque;
            tokio::spawn(async move {
                let mut response = RemotingCommand::response_to(&request, ResponseCode::Success)
                    .with_body(Bytes::from("later"));
                response.opaque = opaque;
                channel.send_response(response).unwrap();
            });
            None
        },
    );
    let server = start(local_config(), table).await;
    let response = client()
        .invoke(
            &server.local_addr().to_string(),
            RemotingCommand::request(SLOW),
            RPC_TIMEOUT,
        )
        .await
        .unwrap();
    assert_eq!(response.body.to_bytes(), Bytes::from("later"));
}

#[tokio::test]
async fn panicking_processor_answers_system_error_and_connection_survives() {
    let table = echo_table().with(SLOW, |_c: Channel, _r: RemotingCommand| async move {
        if true {
            panic!("processor bug");
        }
        None
    });
    let server = start(local_config(), table).await;
    let addr = server.local_addr().to_string();
    let client = client();
    let response = client
        .invoke(&addr, RemotingCommand::request(SLOW), RPC_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response.code, ResponseCode::SystemError.as_i32());
    let response = client
        .invoke(&addr, echo_request("ok"), RPC_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response.code, 0);
}

#[tokio::test]
async fn response_too_large_to_send_becomes_system_error() {
    let huge = Bytes::from(vec![0u8; 17 * 1024 * 1024]);
    let table = echo_table().with(SLOW, move |_c: Channel, request: RemotingCommand| {
        let huge = huge.clone();
        async move {
            Some(RemotingCommand::response_to(&request, ResponseCode::Success).with_body(huge))
        }
    });
    let server = start(local_config(), table).await;
    let addr = server.local_addr().to_string();
    let client = client();
    let response = client
        .invoke(&addr, RemotingCommand::request(SLOW), RPC_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response.code, ResponseCode::SystemError.as_i32());
    assert!(response.remark.unwrap().contains("could not be sent"));
    let response = client
        .invoke(&addr, echo_request("next"), RPC_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response.body.to_bytes(), Bytes::from("next"));
}

#[tokio::test]
async fn close_all_fails_pending_requests_and_next_use_reconnects() {
    let table = echo_table().with(NEVER_ANSWERS, |_c: Channel, _r: RemotingCommand| async {
        std::future::pending::<()>().await;
        None
    });
    let server = start(local_config(), table).await;
    let addr = server.local_addr().to_string();
    let client = client();
    let held = tokio::spawn({
        let client = client.clone();
        let addr = addr.clone();
        async move {
            client
                .invoke(&addr, RemotingCommand::request(NEVER_ANSWERS), RPC_TIMEOUT)
                .await
        }
    });
    eventually("the request is held", || server.in_flight_requests() == 1).await;
    client.close_all();
    let error = held.await.unwrap().unwrap_err();
    assert!(matches!(error, RemotingError::Connection { .. }), "{error}");
    let response = client
        .invoke(&addr, echo_request("back"), RPC_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(response.body.to_bytes(), Bytes::from("back"));
    assert_eq!(
        server.stats().connections_accepted.load(Ordering::Relaxed),
        2
    );
}
