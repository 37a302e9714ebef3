//! A media upload body: the multipart parts as the upload route reads them (axum's
//! extractor), then the part's file name and content type through the media library's
//! sanitising and sniffing.
#![no_main]

use std::sync::OnceLock;

use axum::extract::{FromRequest, Multipart};
use hookline::media::sniff;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().unwrap())
}

libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    let request = axum::http::Request::builder()
        .method("POST")
        .header("content-type", "multipart/form-data; boundary=XyZ")
        .body(axum::body::Body::from(body.to_vec()))
        .unwrap();
    runtime().block_on(async {
        let Ok(mut parts) = Multipart::from_request(request, &()).await else {
            return;
        };
        while let Ok(Some(field)) = parts.next_field().await {
            let name = sniff::safe_file_name(field.file_name());
            let declared = field.content_type().map(str::to_owned);
            let Ok(bytes) = field.bytes().await else { return };
            let head = &bytes[..bytes.len().min(512)];
            let content_type = sniff::content_type(head, declared.as_deref(), &name);
            let _ = sniff::kind_of(&content_type);
            let _ = sniff::content_disposition(&name);
        }
    });
});
