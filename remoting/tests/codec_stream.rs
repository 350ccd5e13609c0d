//! The codec on a real byte stream: `Framed` over an in-memory duplex pipe, with the writer
//! dribbling bytes in small pieces as a slow network would.

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use sluice_remoting::codec::{encode_head, RemotingCodec};
use sluice_remoting::command::SerializeType;
use sluice_remoting::{Body, RemotingCommand, RemotingError, RequestCode};
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{Encoder, FramedRead, FramedWrite};

fn send_request(opaque: i32, body_len: usize) -> RemotingCommand {
    let mut cmd = RemotingCommand::request(RequestCode::SendMessageV2)
        .with_ext("a", "group")
        .with_ext("b", "TopicTest")
        .with_body(vec![opaque as u8; body_len]);
    cmd.opaque = opaque;
    cmd.serialize_type = if opaque % 2 == 0 {
        SerializeType::Json
    } else {
        SerializeType::RocketMq
    };
    cmd
}

#[tokio::test]
async fn frames_arrive_intact_through_a_dribbling_pipe() {
    let (client, server) = tokio::io::duplex(64);
    let sent: Vec<RemotingCommand> = (0..20).map(|i| send_request(i, i as usize * 97)).collect();

    let mut wire = BytesMut::new();
    let mut codec = RemotingCodec::new();
    for cmd in &sent {
        codec.encode(cmd, &mut wire).unwrap();
    }
    let writer = tokio::spawn(async move {
        let mut client = client;
        for piece in wire.chunks(13) {
            client.write_all(piece).await.unwrap();
        }
        client.shutdown().await.unwrap();
    });

    let mut frames = FramedRead::new(server, RemotingCodec::new());
    let mut received = Vec::new();
    while let Some(cmd) = frames.next().await {
        received.push(cmd.unwrap());
    }
    writer.await.unwrap();
    assert_eq!(received, sent);
}

#[tokio::test]
async fn framed_write_and_zero_copy_head_produce_the_same_stream() {
    let response = RemotingCommand::response_to(&send_request(3, 0), 0)
        .with_ext("msgId", "7F00000100002A9F0000000000000000")
        .with_body(Body::from_parts(vec![
            Bytes::from_static(b"first record"),
            Bytes::from_static(b"second record"),
        ]));

    let mut via_sink = Vec::new();
    {
        let mut sink = FramedWrite::new(&mut via_sink, RemotingCodec::new());
        sink.send(response.clone()).await.unwrap();
    }

    // What a transport writer does: the head, then each body part as its own buffer.
    let mut head = BytesMut::new();
    encode_head(&response, &mut head).unwrap();
    let mut via_parts = head.to_vec();
    for part in response.body.parts() {
        via_parts.extend_from_slice(part);
    }
    assert_eq!(via_sink, via_parts);
}

#[tokio::test]
async fn an_oversized_frame_ends_the_stream_with_an_error_before_its_body_arrives() {
    let (mut client, server) = tokio::io::duplex(1024);
    let mut frames = FramedRead::new(server, RemotingCodec::with_max_frame(4096));
    // Only the length is sent; the (huge) rest never comes, and the reader must not wait for it.
    client.write_all(&100_000i32.to_be_bytes()).await.unwrap();
    match frames.next().await {
        Some(Err(RemotingError::FrameTooLarge { len, max })) => {
            assert_eq!((len, max), (100_000, 4096));
        }
        other => panic!("expected FrameTooLarge, got {other:?}"),
    }
}
