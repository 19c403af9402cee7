use super::headers::MAX_FIELDS;
use super::*;
use proptest::prelude::*;

fn one(input: &[u8]) -> Result<Option<(ServerOp<'_>, usize)>, ParseError> {
    parse(input, &Limits::default())
}

fn all(input: &[u8], limits: Limits) -> Vec<String> {
    let mut out = Vec::new();
    let left = replay(&[input], limits, |got| out.push(format!("{got:?}")));
    out.push(format!("left {left}"));
    out
}

#[test]
fn simple_operations_in_any_case() {
    for (line, want) in [
        (&b"PING\r\n"[..], ServerOp::Ping),
        (b"pong\r\n", ServerOp::Pong),
        (b"+OK\r\n", ServerOp::Ok),
        (
            b"-ERR 'Unknown Protocol Operation'\r\n",
            ServerOp::Err("Unknown Protocol Operation"),
        ),
        (b"-ERR unquoted\r\n", ServerOp::Err("unquoted")),
        (b"PING\n", ServerOp::Ping),
    ] {
        assert_eq!(one(line).unwrap(), Some((want, line.len())), "{line:?}");
    }
}

#[test]
fn incomplete_input_needs_more() {
    for partial in [
        &b""[..],
        b"PIN",
        b"PING\r",
        b"MSG a 1 5\r\nhel",
        b"MSG a 1 5\r\nhello",
        b"MSG a 1 5\r\nhello\r",
        b"HMSG a 1 12 14\r\nNATS/1.0\r\n",
    ] {
        assert_eq!(one(partial).unwrap(), None, "{partial:?}");
    }
}

#[test]
fn info_gives_the_limits_and_cluster() {
    let line = br#"INFO {"server_id":"N1","server_name":"n1","version":"2.9.10","proto":1,"headers":true,"max_payload":2048,"jetstream":true,"client_id":9,"connect_urls":["10.0.0.2:4222","10.0.0.3:4222"],"ldm":true,"extra":{"x":1}}"#;
    let mut input = line.to_vec();
    input.extend_from_slice(b" \r\n");
    let Some((ServerOp::Info(info), used)) = one(&input).unwrap() else {
        panic!("not INFO");
    };
    assert_eq!(used, input.len());
    assert_eq!(info.server_id, "N1");
    assert_eq!(info.max_payload, 2048);
    assert!(info.headers && info.jetstream && info.lame_duck);
    assert_eq!(info.connect_urls, ["10.0.0.2:4222", "10.0.0.3:4222"]);
    assert_eq!(info.client_id, 9);
    assert_eq!(info.proto, 1);
}

#[test]
fn bad_info_is_an_error() {
    for bad in [
        &b"INFO nope\r\n"[..],
        b"INFO [1,2]\r\n",
        b"INFO {\"max_payload\":-1}\r\n",
        b"INFO {\"max_payload\":0}\r\n",
        b"INFO {\"connect_urls\":5}\r\n",
    ] {
        assert!(matches!(one(bad), Err(ParseError::BadInfo(_))), "{bad:?}");
    }
    // Missing fields take defaults.
    let Some((ServerOp::Info(info), _)) = one(b"INFO {}\r\n").unwrap() else {
        panic!()
    };
    assert_eq!(info.max_payload, DEFAULT_MAX_PAYLOAD);
    assert!(!info.headers);
}

#[test]
fn msg_with_and_without_reply() {
    let input = b"MSG room.a 12 _INBOX.x.1 5\r\nhello\r\n";
    let Some((ServerOp::Msg(m), used)) = one(input).unwrap() else {
        panic!()
    };
    assert_eq!(used, input.len());
    assert_eq!(
        (m.subject, m.sid, m.reply, m.payload),
        ("room.a", 12, Some("_INBOX.x.1"), &b"hello"[..])
    );
    assert!(m.headers.is_none());
    // nats-server leaves an empty reply field: two spaces.
    let input = b"MSG _INBOX.x.r.2 1  26\r\n{\"stream\":\"KV_t\", \"seq\":1}\r\n";
    let Some((ServerOp::Msg(m), _)) = one(input).unwrap() else {
        panic!()
    };
    assert_eq!((m.reply, m.payload.len()), (None, 26));
    // Tabs and an empty payload.
    let Some((ServerOp::Msg(m), _)) = one(b"msg\ta\t1\t0\r\n\r\n").unwrap() else {
        panic!()
    };
    assert_eq!((m.subject, m.payload), ("a", &b""[..]));
}

#[test]
fn hmsg_with_status_and_fields() {
    let input = b"HMSG _INBOX.x.w.1 2  75 75\r\nNATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 0\r\nNats-Last-Stream: 1\r\n\r\n\r\n";
    let Some((ServerOp::Msg(m), used)) = one(input).unwrap() else {
        panic!()
    };
    assert_eq!(used, input.len());
    let h = m.headers.unwrap();
    assert_eq!((h.status, h.description.as_str()), (100, "Idle Heartbeat"));
    assert_eq!(h.get("Nats-Last-Stream"), Some("1"));
    assert_eq!(
        h.get("nats-last-stream"),
        None,
        "names are compared exactly"
    );
    assert!(m.payload.is_empty());

    let input = b"HMSG a 1 r 34 34\r\nNATS/1.0 404 Message Not Found\r\n\r\n\r\n";
    let Some((ServerOp::Msg(m), _)) = one(input).unwrap() else {
        panic!()
    };
    assert_eq!(m.headers.unwrap().status, 404);
}

#[test]
fn repeated_and_continued_headers() {
    let h = Headers::parse(b"NATS/1.0\r\nA: 1\r\nA:2\r\nB:  long\r\n  value \r\n\r\n").unwrap();
    assert_eq!(h.get_all("A").collect::<Vec<_>>(), ["1", "2"]);
    assert_eq!(h.get("B"), Some("long value"));
    assert_eq!(h.status, 0);
}

#[test]
fn bad_header_blocks() {
    for (block, want) in [
        (&b"HTTP/1.1\r\n\r\n"[..], HeaderError::NoVersion),
        (b"NATS/1.01\r\n\r\n", HeaderError::NoVersion),
        (b"NATS/1.0 40x\r\n\r\n", HeaderError::BadStatus),
        (b"NATS/1.0\r\nA: 1\r\n", HeaderError::Unterminated),
        (b"NATS/1.0\r\nnocolon\r\n\r\n", HeaderError::NoColon),
        (b"NATS/1.0\r\n: v\r\n\r\n", HeaderError::NoColon),
        (b"NATS/1.0\r\nA B: v\r\n\r\n", HeaderError::BadByte(b' ')),
        (b"NATS/1.0\r\n cont\r\n\r\n", HeaderError::NoColon),
        (b"NATS/1.0\r\nA: \xff\r\n\r\n", HeaderError::NotUtf8),
    ] {
        assert_eq!(Headers::parse(block), Err(want), "{block:?}");
    }
    let mut many = b"NATS/1.0\r\n".to_vec();
    for i in 0..=MAX_FIELDS {
        many.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(Headers::parse(&many), Err(HeaderError::TooMany));
}

#[test]
fn sizes_are_checked_before_waiting() {
    let limits = Limits {
        max_payload: 10,
        max_header: 8,
        max_control_line: 40,
    };
    // The bytes are not there yet, but the size alone is refused.
    assert_eq!(
        parse(b"MSG a 1 11\r\n", &limits),
        Err(ParseError::PayloadTooLarge {
            size: 11,
            limit: 10
        })
    );
    assert_eq!(
        parse(b"HMSG a 1 9 10\r\n", &limits),
        Err(ParseError::HeaderTooLarge { size: 9, limit: 8 })
    );
    assert_eq!(
        parse(b"HMSG a 1 5 4\r\n", &limits),
        Err(ParseError::HeaderOverTotal)
    );
    assert_eq!(
        parse(b"MSG a 1 99999999999999999999\r\n", &limits),
        Err(ParseError::BadNumber { op: "MSG" })
    );
    // A control line that never ends is refused once it passes the limit.
    let long = vec![b'M'; 42];
    assert_eq!(
        parse(&long, &limits),
        Err(ParseError::ControlLineTooLong { limit: 40 })
    );
    assert_eq!(parse(&long[..41], &limits), Ok(None));
    let mut exact = vec![b'x'; 40];
    exact.extend_from_slice(b"\r\n");
    assert!(matches!(
        parse(&exact, &limits),
        Err(ParseError::UnknownOp(_))
    ));
}

#[test]
fn malformed_operations() {
    for (bad, want) in [
        (&b"MSG a 1\r\n"[..], ParseError::Fields { op: "MSG" }),
        (b"MSG a 1 r x 5\r\n", ParseError::Fields { op: "MSG" }),
        (b"MSG a b 5\r\n", ParseError::BadNumber { op: "MSG" }),
        (b"MSG a 1 -5\r\n", ParseError::BadNumber { op: "MSG" }),
        (b"HMSG a 1 5\r\n", ParseError::Fields { op: "HMSG" }),
        (
            b"MSG a..b 1 0\r\n\r\n",
            ParseError::BadSubject(SubjectError::EmptyToken),
        ),
        (b"MSG a 1 2\r\nabcd", ParseError::NoCrlfAfterPayload),
        (b"\xff\r\n", ParseError::NotUtf8),
        (b"PINGX\r\n", ParseError::UnknownOp("PINGX".into())),
        (b"PING extra\r\n", ParseError::UnknownOp("PING".into())),
        (b"\r\n", ParseError::UnknownOp(String::new())),
        (
            b"HMSG a 1 4 4\r\nxxxx\r\n",
            ParseError::Headers(HeaderError::Unterminated),
        ),
    ] {
        assert_eq!(one(bad), Err(want), "{bad:?}");
    }
}

#[test]
fn info_updates_the_payload_limit_in_replay() {
    let mut input = b"INFO {\"max_payload\":4}\r\n".to_vec();
    input.extend_from_slice(b"MSG a 1 5\r\nhello\r\n");
    let got = all(&input, Limits::default());
    assert!(got[1].contains("PayloadTooLarge"), "{got:?}");
}

#[test]
fn writers() {
    let mut out = Vec::new();
    write_pub(&mut out, "a.b", Some("_INBOX.1"), b"hi").unwrap();
    write_pub(&mut out, "a", None, b"").unwrap();
    write_sub(&mut out, "a.*.>", None, 7).unwrap();
    write_sub(&mut out, "a", Some("workers"), 8).unwrap();
    write_unsub(&mut out, 7, None);
    write_unsub(&mut out, 8, Some(3));
    write_ping(&mut out);
    write_pong(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "PUB a.b _INBOX.1 2\r\nhi\r\nPUB a 0\r\n\r\nSUB a.*.> 7\r\nSUB a workers 8\r\n\
         UNSUB 7\r\nUNSUB 8 3\r\nPING\r\nPONG\r\n"
    );
}

#[test]
fn writers_refuse_bad_subjects_and_write_nothing() {
    let mut out = Vec::new();
    let h = Headers::new();
    for s in ["", "a..b", "a b", "a.*", "a.>", "a\r\n", ".a", "a."] {
        assert!(write_pub(&mut out, s, None, b"x").is_err(), "{s:?}");
        assert!(write_hpub(&mut out, s, None, &h, b"x").is_err(), "{s:?}");
    }
    assert!(write_pub(&mut out, "a", Some("r.*"), b"x").is_err());
    for s in ["a.>.b", "a*", "a.b>", "", "a..*"] {
        assert!(write_sub(&mut out, s, None, 1).is_err(), "{s:?}");
    }
    assert_eq!(
        write_sub(&mut out, "a", Some("q.x"), 1),
        Err(WriteError::Queue)
    );
    assert!(out.is_empty());
}

#[test]
fn headers_refuse_what_would_break_the_block() {
    let mut h = Headers::new();
    assert_eq!(h.insert("A:B", "v"), Err(HeaderError::BadByte(b':')));
    assert_eq!(h.insert("A", "v\r\nX: y"), Err(HeaderError::BadByte(b'\r')));
    assert_eq!(h.insert("", "v"), Err(HeaderError::NoColon));
    h.insert("A", "1").unwrap();
    h.insert("A", "2").unwrap();
    h.append("A", "3").unwrap();
    assert_eq!(h.get_all("A").collect::<Vec<_>>(), ["2", "3"]);
}

#[test]
fn connect_is_json_with_the_options() {
    let mut out = Vec::new();
    let c = Connect {
        name: "snak \"node\" 1",
        echo: false,
        ..Connect::default()
    };
    write_connect(&mut out, &c);
    let text = std::str::from_utf8(&out).unwrap();
    let json = text
        .strip_prefix("CONNECT ")
        .unwrap()
        .strip_suffix("\r\n")
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(v["verbose"], false);
    assert_eq!(v["headers"], true);
    assert_eq!(v["no_responders"], true);
    assert_eq!(v["echo"], false);
    assert_eq!(v["name"], "snak \"node\" 1");
}

#[test]
fn subjects() {
    use subject::*;
    assert!(check_publish("$KV.nicks.alice").is_ok());
    assert!(check_publish("snak.room.=23lobby").is_ok());
    assert_eq!(check_publish("a.*"), Err(SubjectError::Wildcard));
    assert_eq!(check_publish("a*b"), Err(SubjectError::Wildcard));
    assert_eq!(check_publish("a\tb"), Err(SubjectError::BadByte(b'\t')));
    assert_eq!(check_publish(""), Err(SubjectError::Empty));
    assert_eq!(
        check_publish(&"a".repeat(MAX_SUBJECT + 1)),
        Err(SubjectError::TooLong {
            len: MAX_SUBJECT + 1
        })
    );
    assert!(check_subscribe("*").is_ok());
    assert!(check_subscribe(">").is_ok());
    assert!(check_subscribe("a.*.c.>").is_ok());
    assert_eq!(check_subscribe("a.>.c"), Err(SubjectError::BadWildcard));
    assert_eq!(check_subscribe("a.b*"), Err(SubjectError::BadWildcard));
    assert!(matches("a.*.c", "a.b.c"));
    assert!(matches("a.>", "a.b.c"));
    assert!(!matches("a.>", "a"));
    assert!(!matches("a.*", "a.b.c"));
    assert!(matches("a.b", "a.b"));
    assert!(!matches("a.b", "a.b.c"));
}

#[test]
fn hpub_roundtrips_through_a_server_msg() {
    let mut h = Headers::new();
    h.append("Snak-Seq", "9").unwrap();
    h.append("Snak-Node", "n1").unwrap();
    let mut pub_bytes = Vec::new();
    write_hpub(&mut pub_bytes, "room.x", Some("r.1"), &h, b"payload").unwrap();
    assert!(pub_len("room.x", Some("r.1"), Some(&h), 7) >= pub_bytes.len());
    let mut msg = Vec::new();
    write_msg(&mut msg, "room.x", 3, Some("r.1"), Some(&h), b"payload");
    let Some((ServerOp::Msg(m), used)) = one(&msg).unwrap() else {
        panic!()
    };
    assert_eq!(used, msg.len());
    assert_eq!(m.headers.as_ref(), Some(&h));
    assert_eq!(m.payload, b"payload");
}

fn server_op() -> impl Strategy<Value = Vec<u8>> {
    let subject = "[a-z]{1,5}(\\.[a-z0-9_$=]{1,5}){0,3}";
    let payload = proptest::collection::vec(any::<u8>(), 0..64);
    let field = ("[A-Za-z][A-Za-z0-9-]{0,8}", "[ -~]{0,12}");
    prop_oneof![
        Just(b"PING\r\n".to_vec()),
        Just(b"PONG\r\n".to_vec()),
        Just(b"+OK\r\n".to_vec()),
        Just(b"-ERR 'Stale Connection'\r\n".to_vec()),
        Just(b"INFO {\"server_id\":\"s\",\"max_payload\":4096,\"headers\":true}\r\n".to_vec()),
        (
            subject,
            any::<u32>(),
            proptest::option::of("_INBOX\\.[a-z]{1,4}"),
            payload.clone()
        )
            .prop_map(|(s, sid, r, p)| {
                let mut out = Vec::new();
                write_msg(&mut out, &s, sid.into(), r.as_deref(), None, &p);
                out
            }),
        (
            "[a-z]{1,8}",
            proptest::collection::vec(field, 0..4),
            proptest::option::of(100u16..600),
            payload
        )
            .prop_map(|(s, fields, status, p)| {
                let mut h = Headers::new();
                for (n, v) in fields {
                    h.append(&n, &v).unwrap();
                }
                if let Some(code) = status {
                    h.status = code;
                    h.description = "Some Status".into();
                }
                let mut out = Vec::new();
                write_msg(&mut out, &s, 1, None, Some(&h), &p);
                out
            }),
    ]
}

proptest! {
    /// Any cut of a stream of valid operations (and junk after them) gives the same
    /// operations, the same error and the same bytes left over.
    #[test]
    fn chunking_does_not_change_the_result(
        ops in proptest::collection::vec(server_op(), 1..12),
        junk in proptest::collection::vec(any::<u8>(), 0..16),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut stream: Vec<u8> = ops.concat();
        stream.extend_from_slice(&junk);
        let limits = Limits { max_control_line: 200, ..Limits::default() };
        let whole = {
            let mut out = Vec::new();
            let left = replay(&[&stream], limits, |got| out.push(format!("{got:?}")));
            (out, left)
        };
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        at.sort_unstable();
        let mut chunks = Vec::new();
        let mut prev = 0;
        for cut in at {
            chunks.push(&stream[prev..cut]);
            prev = cut;
        }
        chunks.push(&stream[prev..]);
        let mut out = Vec::new();
        let left = replay(&chunks, limits, |got| out.push(format!("{got:?}")));
        prop_assert_eq!(&(out, left), &whole);
        // Without junk, every operation comes out whole.
        let clean: Vec<u8> = ops.concat();
        let got = all(&clean, limits);
        prop_assert_eq!(got.len(), ops.len() + 1);
        prop_assert_eq!(got.last().map(String::as_str), Some("left 0"));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let limits = Limits { max_payload: 300, max_header: 100, max_control_line: 100 };
        let _ = all(&bytes, limits);
        let _ = Headers::parse(&bytes);
    }
}
