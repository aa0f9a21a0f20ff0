//! Stream framing (TCP/TLS): chunking, keep-alives, limits.

// Helpers outside #[test] fns unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use drawbridge_sip::{Frame, FrameError, Limits, StreamFramer, parse_message};

fn msg(body: &str, compact: bool) -> String {
    let cl = if compact { "l" } else { "Content-Length" };
    format!(
        "MESSAGE sip:b@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n\
To: <sip:b@h>\r\nCall-ID: m1\r\nCSeq: 1 MESSAGE\r\n{cl}: {}\r\n\r\n{body}",
        body.len()
    )
}

fn drain(f: &mut StreamFramer) -> Result<Vec<Frame>, FrameError> {
    let mut out = Vec::new();
    while let Some(fr) = f.next_frame()? {
        out.push(fr);
    }
    Ok(out)
}

#[test]
fn frames_survive_any_chunking() {
    let stream = format!(
        "\r\n{}\r\n\r\n{}{}",
        msg("hello", false),
        msg("", true),
        msg("x\r\n\r\ny", false)
    );
    let bytes = stream.as_bytes();
    for chunk in [1, 2, 3, 7, 64, bytes.len()] {
        let mut f = StreamFramer::new(Limits::default());
        let mut frames = Vec::new();
        for c in bytes.chunks(chunk) {
            f.feed(c).unwrap();
            frames.extend(drain(&mut f).unwrap());
        }
        assert_eq!(frames.len(), 4, "chunk {chunk}: {frames:?}");
        assert_eq!(frames[1], Frame::Ping);
        let bodies: Vec<Vec<u8>> = frames
            .iter()
            .filter_map(|fr| match fr {
                Frame::Message(m) => {
                    Some(parse_message(m, &Limits::default()).unwrap().body().clone())
                }
                Frame::Ping => None,
            })
            .collect();
        assert_eq!(
            bodies,
            vec![b"hello".to_vec(), b"".to_vec(), b"x\r\n\r\ny".to_vec()]
        );
        assert_eq!(f.buffered(), 0);
    }
}

#[test]
fn need_more_bytes_is_not_an_error() {
    let m = msg("hello", false);
    let mut f = StreamFramer::new(Limits::default());
    f.feed(&m.as_bytes()[..m.len() - 1]).unwrap();
    assert_eq!(f.next_frame(), Ok(None));
    f.feed(&m.as_bytes()[m.len() - 1..]).unwrap();
    assert!(matches!(f.next_frame(), Ok(Some(Frame::Message(_)))));
    assert_eq!(f.next_frame(), Ok(None));
}

#[test]
fn lone_crlf_is_skipped_and_double_crlf_is_a_ping() {
    let mut f = StreamFramer::new(Limits::default());
    f.feed(b"\r\n").unwrap();
    assert_eq!(f.next_frame(), Ok(None), "could still become a ping");
    f.feed(b"\r\n\r\n").unwrap();
    assert_eq!(f.next_frame(), Ok(Some(Frame::Ping)));
    assert_eq!(f.next_frame(), Ok(None));
    f.feed(msg("", false).as_bytes()).unwrap();
    assert!(matches!(f.next_frame(), Ok(Some(Frame::Message(m))) if m.starts_with(b"MESSAGE")));
}

#[test]
fn missing_or_bad_content_length_is_fatal() {
    let no_cl = msg("", false).replace("Content-Length: 0\r\n", "");
    let mut f = StreamFramer::new(Limits::default());
    f.feed(no_cl.as_bytes()).unwrap();
    assert_eq!(f.next_frame(), Err(FrameError::MissingContentLength));
    let bad = msg("", false).replace("Content-Length: 0", "Content-Length: -5");
    let mut f = StreamFramer::new(Limits::default());
    f.feed(bad.as_bytes()).unwrap();
    assert_eq!(f.next_frame(), Err(FrameError::BadContentLength));
}

#[test]
fn size_limits_bound_the_buffer() {
    let l = Limits::default();
    // headers that never end
    let mut f = StreamFramer::new(l);
    let line = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    f.feed(b"INVITE sip:a@b SIP/2.0\r\n").unwrap();
    let mut result = Ok(None);
    for _ in 0..1000 {
        if let Err(e) = f.feed(line) {
            result = Err(e);
            break;
        }
        result = f.next_frame();
        if result.is_err() {
            break;
        }
    }
    assert_eq!(
        result,
        Err(FrameError::HeadersTooLarge {
            max: l.max_message_size
        })
    );
    // announced body too large
    let big = msg("", false).replace("Content-Length: 0", "Content-Length: 20000");
    let mut f = StreamFramer::new(l);
    f.feed(big.as_bytes()).unwrap();
    assert!(matches!(f.next_frame(), Err(FrameError::TooLarge { .. })));
    // a single line that never ends
    let mut f = StreamFramer::new(l);
    f.feed(&[b'a'; 5000]).unwrap();
    assert_eq!(
        f.next_frame(),
        Err(FrameError::LineTooLong {
            max: l.max_line_length
        })
    );
    // feeding without pulling
    let mut f = StreamFramer::new(l);
    assert!(matches!(
        f.feed(&vec![b'a'; 2 * l.max_message_size + 1]),
        Err(FrameError::BufferFull { .. })
    ));
}

#[test]
fn bare_lf_stream_frames() {
    let m = msg("hi", true).replace("\r\n", "\n");
    let mut f = StreamFramer::new(Limits::default());
    f.feed(m.as_bytes()).unwrap();
    let Ok(Some(Frame::Message(bytes))) = f.next_frame() else {
        panic!()
    };
    assert_eq!(
        parse_message(&bytes, &Limits::default()).unwrap().body(),
        b"hi"
    );
}
