//! Many peers at once, and frames arriving in arbitrary pieces.

mod net_common;

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use net_common::*;
use sluice_remoting::codec::RemotingCodec;
use sluice_remoting::net::{ClientConfig, ProcessorTable, RemotingClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Decoder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_clients_each_get_their_own_answers() {
    let server = start(local_config(), echo_table()).await;
    let addr = server.local_addr().to_string();
    let clients: Vec<_> = (0..50)
        .map(|c| {
            let addr = addr.clone();
            tokio::spawn(async move {
                let client = RemotingClient::new(ClientConfig::default(), ProcessorTable::new());
                let calls = (0..20).map(|i| {
                    let body = format!("client-{c}-request-{i}");
                    let client = &client;
                    let addr = &addr;
                    async move {
                        let response = client
                            .invoke(addr, echo_request(body.clone()), RPC_TIMEOUT)
                            .await
                            .unwrap();
                        assert_eq!(response.body.to_bytes(), Bytes::from(body));
                    }
                });
                futures::future::join_all(calls).await;
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(
        server.stats().connections_accepted.load(Ordering::Relaxed),
        50
    );
}

#[tokio::test]
async fn frames_split_at_random_points_are_all_answered() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    println!("split seed: {seed}");
    let mut state = seed;
    let mut random = move |bound: usize| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound
    };

    let server = start(local_config(), echo_table()).await;
    let mut raw = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut wire = BytesMut::new();
    let count = 200;
    for i in 0..count {
        let mut request = echo_request(vec![b'x'; random(3000)]);
        request.opaque = i;
        wire.extend_from_slice(&frame(&request));
    }
    let (read_half, mut write_half) = raw.split();
    let writer = async {
        let mut rest = &wire[..];
        while !rest.is_empty() {
            let n = (1 + random(700)).min(rest.len());
            write_half.write_all(&rest[..n]).await.unwrap();
            rest = &rest[n..];
            if random(4) == 0 {
                tokio::task::yield_now().await;
            }
        }
    };
    let reader = async {
        let mut buf = BytesMut::new();
        let mut opaques = Vec::new();
        let mut stream = read_half;
        let mut codec = RemotingCodec::new();
        while opaques.len() < count as usize {
            if let Some(response) = codec.decode(&mut buf).unwrap() {
                assert_eq!(response.code, 0);
                opaques.push(response.opaque);
                continue;
            }
            let n = tokio::time::timeout(HANG_GUARD, stream.read_buf(&mut buf))
                .await
                .expect("hang guard: answers stopped coming")
                .unwrap();
            assert!(n > 0, "server closed the connection");
        }
        opaques
    };
    let ((), mut opaques) = tokio::join!(writer, reader);
    // Processors run concurrently, so answers may overtake each other; each comes exactly once.
    opaques.sort_unstable();
    assert_eq!(opaques, (0..count).collect::<Vec<_>>());
}
