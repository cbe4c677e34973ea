#![no_main]
//! The multipart form of `POST /api/charts` as the server reads it. Whatever the bytes: never a
//! panic, and a refusal is a 400. A well-formed form built from the input (parts named `chart`,
//! `prov` or something else, arbitrary contents) reads back exactly: each file's bytes, other
//! parts ignored, a second part of one kind refused.
use bytes::Bytes;
use chartroom_server::fuzzing::multipart;
use http::StatusCode;
use libfuzzer_sys::fuzz_target;

const BOUNDARY: &str = "fuzz-b0undary-7d1c";

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode & 1 == 0 {
        // Raw: the input is the body (or, after a NUL, the Content-Type and then the body).
        let default = format!("multipart/form-data; boundary={BOUNDARY}");
        let (content_type, body): (&[u8], &[u8]) = match rest.iter().position(|&b| b == 0) {
            Some(at) if mode & 2 == 2 => (&rest[..at], &rest[at + 1..]),
            _ => (default.as_bytes(), rest),
        };
        if let Err((status, e)) = multipart(content_type, Bytes::copy_from_slice(body)) {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
        }
        return;
    }
    // Structured: parts separated by 0xFF; the first byte of each names it.
    let mut body = Vec::new();
    let (mut chart, mut prov, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for part in rest.split(|&b| b == 0xFF) {
        let Some((&kind, content)) = part.split_first() else { continue };
        let name = match kind % 3 {
            0 => "chart",
            1 => "prov",
            _ => "notes",
        };
        all.push(content.to_vec());
        match name {
            "chart" => chart.push(content.to_vec()),
            "prov" => prov.push(content.to_vec()),
            _ => {}
        }
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        let filename = if kind & 4 == 0 { "; filename=\"x.tgz\"" } else { "" };
        body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"{filename}\r\n").as_bytes());
        if kind & 8 == 0 {
            body.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let read = multipart(content_type.as_bytes(), Bytes::from(body));
    // A content holding the delimiter is another form than the one meant; only "no panic" then.
    let delimiter = format!("\r\n--{BOUNDARY}");
    let clean = all.iter().all(|c| !c.windows(delimiter.len() - 2).any(|w| w == &delimiter.as_bytes()[2..]));
    if !clean {
        return;
    }
    match read {
        Ok((c, p)) => {
            assert!(chart.len() <= 1 && prov.len() <= 1, "a duplicate part was accepted");
            assert_eq!(c.as_deref(), chart.first().map(Vec::as_slice));
            assert_eq!(p.as_deref(), prov.first().map(Vec::as_slice));
        }
        Err((status, e)) => {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
            assert!(chart.len() > 1 || prov.len() > 1, "a well-formed form was refused: {e}");
        }
    }
});
