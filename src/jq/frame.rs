//! The sandbox protocol: length-prefixed JSON frames (4 bytes, big-endian, then the JSON text)
//! on the child's stdin and stdout. One request, then its answer; the next request after.

use serde::{Deserialize, Serialize};

/// Largest frame either side reads; a longer announced length is a broken peer.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// What the parent asks: run `program` on `input`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request<P, I> {
    pub program: P,
    pub input: I,
    pub max_outputs: usize,
    pub max_output_bytes: usize,
}

/// What the child answers.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// The outputs, each a JSON value.
    Outputs(Vec<serde_json::Value>),
    /// The expression failed at run time, or would not compile here.
    Error(String),
    /// Its outputs passed a bound.
    TooLarge(String),
}

/// The bytes of one frame holding `body`.
pub fn encode(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The announced length of a frame, refused past `max`.
pub fn length(prefix: [u8; 4], max: usize) -> std::io::Result<usize> {
    let n = u32::from_be_bytes(prefix) as usize;
    if n > max.min(MAX_FRAME) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a frame of {n} bytes is over the limit of {max}"),
        ));
    }
    Ok(n)
}

/// Read one frame synchronously (the child's side); `None` at a clean end of input.
pub fn read_blocking(r: &mut impl std::io::Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut prefix = [0u8; 4];
    match r.read_exact(&mut prefix) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let mut body = vec![0u8; length(prefix, MAX_FRAME)?];
    r.read_exact(&mut body)?;
    Ok(Some(body))
}

/// Read one frame of at most `max` bytes (the parent's side).
pub async fn read(r: &mut (impl tokio::io::AsyncRead + Unpin), max: usize) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut prefix = [0u8; 4];
    r.read_exact(&mut prefix).await?;
    let mut body = vec![0u8; length(prefix, max)?];
    r.read_exact(&mut body).await?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_round_trip_and_lengths_are_bounded() {
        let req = Request {
            program: ".a",
            input: json!({"a": 1}),
            max_outputs: 1,
            max_output_bytes: 10,
        };
        let bytes = encode(&serde_json::to_vec(&req).unwrap());
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        let mut r = std::io::Cursor::new(two);
        for _ in 0..2 {
            let body = read_blocking(&mut r).unwrap().unwrap();
            let back: Request<String, serde_json::Value> = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                (back.program.as_str(), back.input, back.max_outputs),
                (".a", json!({"a": 1}), 1)
            );
        }
        assert!(read_blocking(&mut r).unwrap().is_none(), "a clean end");
        let mut cut = std::io::Cursor::new(bytes[..bytes.len() - 1].to_vec());
        assert!(read_blocking(&mut cut).is_err(), "a truncated frame");
        assert!(length(10u32.to_be_bytes(), 9).is_err());
        assert!(length(u32::MAX.to_be_bytes(), usize::MAX).is_err());
    }

    #[test]
    fn answers_have_one_shape_each() {
        let a = Answer::Outputs(vec![json!(1), json!({"b": null})]);
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(text, r#"{"outputs":[1,{"b":null}]}"#);
        assert_eq!(serde_json::from_str::<Answer>(&text).unwrap(), a);
        let e = serde_json::to_string(&Answer::TooLarge("output exceeds 5 bytes".into())).unwrap();
        assert_eq!(e, r#"{"too_large":"output exceeds 5 bytes"}"#);
        let e = serde_json::to_string(&Answer::Error("x".into())).unwrap();
        assert_eq!(e, r#"{"error":"x"}"#);
    }
}
