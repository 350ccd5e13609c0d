//! Helpers shared by the `net_*` tests: a server with an echo processor, raw frames, and
//! "eventually" checks bounded only by a generous hang guard (never asserting durations).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sluice_remoting::codec::RemotingCodec;
use sluice_remoting::net::{Channel, ProcessorTable, RemotingClient, RemotingServer, ServerConfig};
use sluice_remoting::{RemotingCommand, ResponseCode};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_util::codec::{Decoder, Encoder};

/// Request code the echo processor answers: SUCCESS with the request's body and extFields.
pub const ECHO: i32 = 1000;
/// How long a test waits for something that must eventually happen before declaring it a hang.
pub const HANG_GUARD: Duration = Duration::from_secs(20);
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);

pub fn echo_table() -> ProcessorTable {
    ProcessorTable::new().with(
        ECHO,
        |_channel: Channel, request: RemotingCommand| async move {
            let mut response = RemotingCommand::response_to(&request, ResponseCode::Success)
                .with_body(request.body.clone());
            response.ext_fields = request.ext_fields.clone();
            Some(response)
        },
    )
}

pub fn local_config() -> ServerConfig {
    ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)))
}

pub async fn start(config: ServerConfig, processors: ProcessorTable) -> RemotingServer {
    RemotingServer::start(config, processors)
        .await
        .expect("server starts")
}

pub fn echo_request(body: impl Into<Bytes>) -> RemotingCommand {
    RemotingCommand::request(ECHO)
        .with_ext("k", "v")
        .with_body(body.into())
}

/// One echo round trip through a fresh client: proves the server still serves well-behaved peers.
pub async fn assert_served(addr: SocketAddr) {
    let client = RemotingClient::new(Default::default(), ProcessorTable::new());
    let response = client
        .invoke(&addr.to_string(), echo_request("ping"), RPC_TIMEOUT)
        .await
        .expect("a well-behaved client is served");
    assert_eq!(response.code, 0);
    assert_eq!(response.body.to_bytes(), Bytes::from("ping"));
}

/// The bytes of one well-formed frame.
pub fn frame(command: &RemotingCommand) -> BytesMut {
    let mut buf = BytesMut::new();
    RemotingCodec::new()
        .encode(command, &mut buf)
        .expect("encodes");
    buf
}

/// Reads frames from a raw stream until one full command arrives.
pub async fn read_command(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<RemotingCommand> {
    let mut codec = RemotingCodec::new();
    loop {
        if let Some(cmd) = codec.decode(buf).expect("server sends valid frames") {
            return Some(cmd);
        }
        let n = tokio::time::timeout(HANG_GUARD, stream.read_buf(buf))
            .await
            .expect("hang guard: no frame arrived")
            .ok()?;
        if n == 0 {
            return None;
        }
    }
}

/// Reads (and discards) until the server closes the connection (EOF or reset).
pub async fn assert_eventually_closed(stream: &mut TcpStream) {
    let mut sink = vec![0u8; 64 * 1024];
    let closed = tokio::time::timeout(HANG_GUARD, async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "hang guard: the server never closed the connection"
    );
}

/// Polls `condition` until it holds; panics after the hang guard.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "hang guard: never {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
