//! The pages' static files, compiled into the binary: the script, the
//! style sheet and the icon. Each is served with a strong `ETag` (a digest
//! of its bytes) and may be kept by any cache for a day, then asked again
//! with `If-None-Match` (304 while unchanged); text is gzip-compressed for
//! a browser that takes it (the `Compress` middleware on these routes).

use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Compress;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// How long a browser or proxy keeps a file before asking again.
const CACHE_CONTROL: &str = "public, max-age=86400";

/// A static file: its bytes, its type, its entity tag.
struct Asset {
    bytes: &'static [u8],
    content_type: &'static str,
    etag: String,
}

impl Asset {
    fn new(bytes: &'static [u8], content_type: &'static str) -> Self {
        let digest = Sha256::digest(bytes);
        Self {
            bytes,
            content_type,
            etag: format!("\"{}\"", hex::encode(&digest[..16])),
        }
    }

    /// 304 when the request names the current version, else the file.
    fn serve(&self, req: &HttpRequest) -> HttpResponse {
        let fresh = req
            .headers()
            .get_all(header::IF_NONE_MATCH)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|tag| {
                let tag = tag.trim();
                tag == "*" || tag.trim_start_matches("W/") == self.etag
            });
        let mut res = if fresh {
            HttpResponse::NotModified()
        } else {
            HttpResponse::Ok()
        };
        res.insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
            .insert_header((header::ETAG, self.etag.as_str()));
        if fresh {
            return res.finish();
        }
        res.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        ))
        .body(self.bytes)
    }
}

static SCRIPT: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../../static/app.js"),
        "text/javascript; charset=utf-8",
    )
});
static STYLE: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        include_bytes!("../../static/app.css"),
        "text/css; charset=utf-8",
    )
});
static ICON_SVG: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(include_bytes!("../../static/favicon.svg"), "image/svg+xml"));
static ICON: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(include_bytes!("../../static/favicon.ico"), "image/x-icon"));

/// The static files' routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let files: [(&str, &'static LazyLock<Asset>); 4] = [
        ("/static/app.js", &SCRIPT),
        ("/static/app.css", &STYLE),
        ("/static/favicon.svg", &ICON_SVG),
        ("/favicon.ico", &ICON),
    ];
    for (path, asset) in files {
        cfg.service(
            web::resource(path)
                .wrap(Compress::default())
                .route(web::get().to(move |req: HttpRequest| async move { asset.serve(&req) })),
        );
    }
}
