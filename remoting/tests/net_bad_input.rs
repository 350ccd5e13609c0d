//! Misbehaving peers over raw sockets: each bad connection is closed, everyone else is served
//! during and after, and the server buffers nothing it was merely promised.

mod net_common;

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use net_common::*;
use sluice_remoting::net::RemotingServer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Sends `bytes` on a fresh raw connection, checks a good client is served while that
/// connection is open, then that the bad one gets closed and good clients are still served.
async fn bad_peer_is_cut_off(server: &RemotingServer, bytes: &[u8], then_eof: bool) {
    let addr = server.local_addr();
    let mut bad = TcpStream::connect(addr).await.unwrap();
    // The server may already have closed it; a failed write is fine.
    let _ = bad.write_all(bytes).await;
    if then_eof {
        let _ = bad.shutdown().await;
    }
    assert_served(addr).await;
    assert_eventually_closed(&mut bad).await;
    assert_served(addr).await;
}

fn head(length: i32, header_word: u32) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_i32(length);
    buf.put_u32(header_word);
    buf
}

#[tokio::test]
async fn declared_length_over_16_mib_is_refused_without_waiting_for_it() {
    let server = start(local_config(), echo_table()).await;
    // Only the 8 head bytes are sent: the server must not wait for (or reserve) the 16 MiB.
    let bytes = head(16 * 1024 * 1024 - 3, 20);
    bad_peer_is_cut_off(&server, &bytes, false).await;
    assert!(server.stats().closed_malformed.load(Ordering::Relaxed) >= 1);

    let bytes = head(i32::MAX, 20);
    bad_peer_is_cut_off(&server, &bytes, false).await;
    let bytes = head(-1, 20);
    bad_peer_is_cut_off(&server, &bytes, false).await;
}

#[tokio::test]
async fn header_longer_than_frame_is_refused() {
    let server = start(local_config(), echo_table()).await;
    let mut bytes = head(10, 100);
    bytes.put_slice(b"{\"code\"");
    bad_peer_is_cut_off(&server, &bytes, false).await;
}

#[tokio::test]
async fn invalid_json_header_is_refused() {
    let server = start(local_config(), echo_table()).await;
    for header in [
        &b"{\"code\":10,\"flag\":"[..],
        b"not json at all",
        b"[1,2,3]",
        b"{\"code\":\"ten\"}",
    ] {
        let mut bytes = head(4 + header.len() as i32, header.len() as u32);
        bytes.put_slice(header);
        bad_peer_is_cut_off(&server, &bytes, false).await;
    }
}

#[tokio::test]
async fn unknown_serialize_type_is_refused() {
    let server = start(local_config(), echo_table()).await;
    let header = b"{\"code\":10}";
    let mut bytes = head(4 + header.len() as i32, (7 << 24) | header.len() as u32);
    bytes.put_slice(header);
    bad_peer_is_cut_off(&server, &bytes, false).await;
}

#[tokio::test]
async fn truncated_frame_then_eof_closes_the_connection() {
    let server = start(local_config(), echo_table()).await;
    let whole = frame(&echo_request("a body that will be cut short"));
    bad_peer_is_cut_off(&server, &whole[..whole.len() - 5], true).await;
}

#[tokio::test]
async fn ten_thousand_garbage_bytes() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    println!("garbage seed: {seed}");
    let mut state = seed;
    let garbage: Vec<u8> = (0..10_000)
        .map(|_| {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect();
    let server = start(local_config(), echo_table()).await;
    // EOF after the garbage: even garbage that happens to look like the start of a frame ends
    // as a truncated frame.
    bad_peer_is_cut_off(&server, &garbage, true).await;
}

#[tokio::test]
async fn good_frames_then_garbage_answers_the_good_ones_first() {
    let server = start(local_config(), echo_table()).await;
    let mut bad = TcpStream::connect(server.local_addr()).await.unwrap();
    let mut bytes = frame(&echo_request("fine"));
    bytes.put_slice(&head(-5, 0));
    bad.write_all(&bytes).await.unwrap();
    let mut buf = BytesMut::new();
    let first = read_command(&mut bad, &mut buf).await;
    // The frame before the garbage is valid; it may or may not be answered before the close,
    // but if anything arrives it must be its answer.
    if let Some(first) = first {
        assert_eq!(first.body.to_bytes(), Bytes::from("fine"));
    }
    assert_eventually_closed(&mut bad).await;
    assert_served(server.local_addr()).await;
}

#[tokio::test]
async fn peer_that_never_reads_is_closed_and_memory_stays_bounded() {
    let mut config = local_config();
    config.outbound_queue = 8;
    config.max_in_flight_per_connection = 8;
    // Echo answers carry the request body back: 64 KiB each fills the socket buffers fast.
    let server = start(config, echo_table()).await;
    let addr = server.local_addr();
    let request = frame(&echo_request(vec![7u8; 64 * 1024]));

    let mut stubborn = TcpStream::connect(addr).await.unwrap();
    let (mut read_half, mut write_half) = stubborn.split();
    let flood = async {
        // Stops when the server cuts the connection (write error); bounded for safety.
        for _ in 0..100_000 {
            if write_half.write_all(&request).await.is_err() {
                return true;
            }
        }
        false
    };
    let served_meanwhile = async {
        assert_served(addr).await;
    };
    let (cut_off, ()) =
        tokio::time::timeout(HANG_GUARD, async { tokio::join!(flood, served_meanwhile) })
            .await
            .expect("hang guard: the non-reading peer was never cut off");
    assert!(
        cut_off,
        "the server kept accepting requests it could not answer"
    );
    assert!(server.stats().closed_outbound_full.load(Ordering::Relaxed) >= 1);
    // Whatever was already in flight may be readable; then EOF or reset.
    let mut sink = vec![0u8; 64 * 1024];
    let _ = tokio::time::timeout(HANG_GUARD, async {
        use tokio::io::AsyncReadExt;
        while let Ok(n) = read_half.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    eventually("the stubborn connection is gone", || {
        server.active_connections() == 0
    })
    .await;
    assert_served(addr).await;
}
