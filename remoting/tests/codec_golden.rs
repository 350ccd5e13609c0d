//! Golden frames: the byte examples of the protocol reference and one header per client dialect.

use bytes::{BufMut, Bytes, BytesMut};
use sluice_remoting::codec::{decode_frame, encode_head, RemotingCodec};
use sluice_remoting::command::SerializeType;
use sluice_remoting::{LanguageCode, RemotingCommand, RemotingError};
use tokio_util::codec::{Decoder, Encoder};

/// Reference §1.4: a J5 client's GET_ROUTEINFO_BY_TOPIC request header (131 bytes).
const JAVA_HEADER: &str = r#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":479}"#;

fn frame(serialize_type: u8, header: &[u8], body: &[u8]) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_i32((4 + header.len() + body.len()) as i32);
    buf.put_u32((serialize_type as u32) << 24 | header.len() as u32);
    buf.put_slice(header);
    buf.put_slice(body);
    buf
}

fn decode_one(mut buf: BytesMut) -> RemotingCommand {
    let mut codec = RemotingCodec::new();
    let cmd = codec.decode(&mut buf).unwrap().expect("a whole frame");
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    cmd
}

fn encode(cmd: &RemotingCommand) -> BytesMut {
    let mut buf = BytesMut::new();
    RemotingCodec::new().encode(cmd, &mut buf).unwrap();
    buf
}

/// Encoding then decoding gives back the same command, with the header type it was written in.
fn assert_round_trips(cmd: &RemotingCommand) {
    let back = decode_one(encode(cmd));
    assert_eq!(&back, cmd);
}

fn route_request() -> RemotingCommand {
    RemotingCommand {
        code: 105,
        language: LanguageCode::Java,
        version: 479,
        opaque: 3,
        ..RemotingCommand::default()
    }
    .with_ext("topic", "TopicTest")
}

#[test]
fn java_json_request_matches_the_reference_bytes() {
    assert_eq!(JAVA_HEADER.len(), 131);
    let wire = frame(0, JAVA_HEADER.as_bytes(), b"");
    assert_eq!(&wire[..8], &[0, 0, 0, 0x87, 0, 0, 0, 0x83]);

    let cmd = decode_one(wire.clone());
    assert_eq!(cmd, route_request());
    assert_eq!(cmd.serialize_type, SerializeType::Json);
    assert!(cmd.body.is_empty());

    assert_eq!(
        encode(&cmd),
        wire,
        "our Java-style encoding must be byte-identical"
    );
}

#[test]
fn binary_request_matches_the_reference_bytes() {
    let mut wire = BytesMut::new();
    wire.put_slice(&[0, 0, 0, 0x2d, 1, 0, 0, 0x29]);
    wire.put_slice(&[0x00, 0x69, 0x00, 0x01, 0xdf]);
    wire.put_slice(&[0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14]);
    wire.put_slice(b"\x00\x05topic\x00\x00\x00\x09TopicTest");
    assert_eq!(wire.len(), 49);

    let cmd = decode_one(wire.clone());
    let mut expected = route_request();
    expected.serialize_type = SerializeType::RocketMq;
    assert_eq!(cmd, expected);

    assert_eq!(encode(&cmd), wire);
}

#[test]
fn cpp_send_message_v2_header_with_numbers_and_newline() {
    // jsoncpp FastWriter: keys sorted (upper case first), remark "", the ACL keys always present,
    // d/e/f/h/l as JSON numbers, g/j/k/m as strings, a trailing newline.
    let header = concat!(
        r#"{"code":310,"extFields":{"AccessKey":"","OnsChannel":"","Signature":"","#,
        r#""a":"please_rename_unique_group_name","b":"TopicTest","c":"TBW102","d":4,"e":1,"f":0,"#,
        r#""g":"1700000000123","h":0,"i":"KEYS\u0001k1\u0002TAGS\u0001TagA\u0002WAIT\u0001true","#,
        r#""j":"0","k":"false","l":16,"m":"false"},"flag":0,"language":"CPP","opaque":7,"#,
        r#""remark":"","version":333}"#,
        "\n"
    );
    let cmd = decode_one(frame(0, header.as_bytes(), b"hello"));
    assert_eq!(cmd.code, 310);
    assert_eq!(cmd.language, LanguageCode::Cpp);
    assert_eq!(cmd.version, 333);
    assert_eq!(cmd.opaque, 7);
    assert_eq!(cmd.flag, 0);
    assert_eq!(cmd.remark.as_deref(), Some(""));
    for (key, value) in [
        ("AccessKey", ""),
        ("OnsChannel", ""),
        ("Signature", ""),
        ("a", "please_rename_unique_group_name"),
        ("b", "TopicTest"),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", "1"),
        ("f", "0"),
        ("g", "1700000000123"),
        ("h", "0"),
        ("i", "KEYS\u{1}k1\u{2}TAGS\u{1}TagA\u{2}WAIT\u{1}true"),
        ("j", "0"),
        ("k", "false"),
        ("l", "16"),
        ("m", "false"),
    ] {
        assert_eq!(cmd.ext(key), Some(value), "extFields[{key}]");
    }
    assert_eq!(cmd.ext_fields.len(), 16);
    assert_eq!(cmd.body.to_bytes(), "hello");

    // Re-encoded, every value becomes a JSON string (what C++ can read back).
    let wire = encode(&cmd);
    let text = std::str::from_utf8(&wire[8..wire.len() - 5]).unwrap();
    assert!(text.contains(r#""d":"4","e":"1""#), "{text}");
    assert!(text.contains(r#""remark":"""#), "{text}");
    assert_round_trips(&cmd);
}

#[test]
fn cpp_booleans_in_ext_fields_become_their_text() {
    let header = "{\"code\":11,\"extFields\":{\"queueId\":0,\"maxMsgNums\":32,\"unitMode\":true},\"language\":\"CPP\"}\n";
    let cmd = decode_one(frame(0, header.as_bytes(), b""));
    assert_eq!(cmd.ext("queueId"), Some("0"));
    assert_eq!(cmd.ext("maxMsgNums"), Some("32"));
    assert_eq!(cmd.ext("unitMode"), Some("true"));
}

#[test]
fn go_header_in_struct_order_with_string_values() {
    let header = concat!(
        r#"{"code":310,"language":"GO","version":317,"opaque":42,"flag":0,"remark":"","#,
        r#""extFields":{"a":"go_group","b":"TopicTest","c":"TBW102","d":"4","e":"2","f":"0","#,
        r#""g":"1700000000123","h":"0","i":"UNIQ_KEY\u0001AC11000100002A9F0000000000000001","#,
        r#""j":"0","k":"false","m":"false"}}"#
    );
    let cmd = decode_one(frame(0, header.as_bytes(), b"payload"));
    assert_eq!(cmd.code, 310);
    assert_eq!(cmd.language, LanguageCode::Go);
    assert_eq!(cmd.version, 317);
    assert_eq!(cmd.opaque, 42);
    assert_eq!(cmd.remark.as_deref(), Some(""));
    assert_eq!(cmd.ext("a"), Some("go_group"));
    assert_eq!(cmd.ext("e"), Some("2"));
    assert_eq!(
        cmd.ext("i"),
        Some("UNIQ_KEY\u{1}AC11000100002A9F0000000000000001")
    );
    assert_eq!(cmd.ext_fields.len(), 12);
    assert_round_trips(&cmd);
}

#[test]
fn rust_header_with_null_remark() {
    let header = r#"{"code":34,"language":"RUST","version":474,"opaque":9,"flag":2,"remark":null,"extFields":{},"serializeTypeCurrentRPC":"JSON"}"#;
    let cmd = decode_one(frame(0, header.as_bytes(), b"{}"));
    assert_eq!(cmd.code, 34);
    assert_eq!(cmd.language, LanguageCode::Rust);
    assert_eq!(cmd.version, 474);
    assert!(cmd.is_oneway());
    assert_eq!(cmd.remark, None);
    assert!(cmd.ext_fields.is_empty());
    assert_round_trips(&cmd);
}

#[test]
fn language_ordinal_and_unknown_language_do_not_fail_the_frame() {
    let cmd = decode_one(frame(0, br#"{"code":34,"language":1}"#, b""));
    assert_eq!(cmd.language, LanguageCode::Cpp);
    let cmd = decode_one(frame(0, br#"{"code":34,"language":"KOTLIN"}"#, b""));
    assert_eq!(cmd.language, LanguageCode::Other);
    assert_eq!(cmd.code, 34);
}

#[test]
fn responses_are_written_as_java_does() {
    let mut request = route_request();
    request.serialize_type = SerializeType::RocketMq;
    let response = RemotingCommand::response_to(&request, 17)
        .with_remark("No topic route info in name server for the topic: TopicTest");
    let wire = encode(&response);
    assert_eq!(wire[4], 0, "responses always carry a JSON header");
    let header = std::str::from_utf8(&wire[8..]).unwrap();
    assert_eq!(
        header,
        r#"{"code":17,"flag":1,"language":"JAVA","opaque":3,"remark":"No topic route info in name server for the topic: TopicTest","serializeTypeCurrentRPC":"JSON","version":479}"#
    );
}

#[test]
fn encode_head_plus_body_parts_equals_the_full_encoding() {
    let body = vec![Bytes::from(vec![1u8; 300]), Bytes::from(vec![2u8; 700])];
    let cmd = RemotingCommand::response_to(&route_request(), 0)
        .with_ext("suggestWhichBrokerId", "0")
        .with_body(sluice_remoting::Body::from_parts(body.clone()));
    let mut head = BytesMut::new();
    encode_head(&cmd, &mut head).unwrap();
    for part in &body {
        head.put_slice(part);
    }
    assert_eq!(head, encode(&cmd));
}

#[test]
fn decode_frame_body_is_a_slice_of_the_frame() {
    let wire = frame(0, JAVA_HEADER.as_bytes(), b"0123456789").freeze();
    let after_length = wire.slice(4..);
    let cmd = decode_frame(after_length.clone()).unwrap();
    let body = cmd.body.to_bytes();
    assert_eq!(body, "0123456789");
    // Zero-copy: the body points into the frame's buffer.
    let frame_range =
        after_length.as_ptr() as usize..after_length.as_ptr() as usize + after_length.len();
    assert!(frame_range.contains(&(body.as_ptr() as usize)));
}

#[test]
fn several_frames_in_one_buffer_decode_in_order() {
    let mut buf = BytesMut::new();
    for opaque in 0..5 {
        let mut cmd = route_request();
        cmd.opaque = opaque;
        if opaque % 2 == 1 {
            cmd.serialize_type = SerializeType::RocketMq;
        }
        buf.put_slice(&encode(&cmd));
    }
    let mut codec = RemotingCodec::new();
    for opaque in 0..5 {
        assert_eq!(codec.decode(&mut buf).unwrap().unwrap().opaque, opaque);
    }
    assert!(codec.decode(&mut buf).unwrap().is_none());
}

#[test]
fn malformed_frames_map_to_the_documented_errors() {
    let mut codec = RemotingCodec::new();
    let mut too_large = BytesMut::from(&[0x01, 0, 0, 0][..]);
    assert!(matches!(
        codec.decode(&mut too_large),
        Err(RemotingError::FrameTooLarge { .. })
    ));
    let mut bad_json = frame(0, b"{\"code\":", b"");
    assert!(matches!(
        codec.decode(&mut bad_json),
        Err(RemotingError::Header(_))
    ));
    let mut bad_binary = frame(1, &[0, 10, 0], b"");
    assert!(matches!(
        codec.decode(&mut bad_binary),
        Err(RemotingError::Header(_))
    ));
    let mut bad_type = frame(7, b"{}", b"");
    assert!(matches!(
        codec.decode(&mut bad_type),
        Err(RemotingError::Frame(_))
    ));
}
